"""Reports for the lender's people: the day's payments by channel and state, and what needs a person (``daily``)."""
