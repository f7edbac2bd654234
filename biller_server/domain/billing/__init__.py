"""Bills: what a customer owes and how a customer is found (identifiers, bill fetch), listing and cancelling."""
