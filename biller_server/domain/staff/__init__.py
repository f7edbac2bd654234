"""The lender's staff: console accounts and their sign-in rules (``accounts``), and the audit log of what each
person did (``audit``). Used by the console and by ``biller-server users``; neither holds a rule of its own."""
