"""Payments: recording one against a bill (``recording``) with its receipt, its confirmation and what a partner's
word does to it afterwards (``outcomes``, ``notifications``), offline payments, the lender's events and exports."""
