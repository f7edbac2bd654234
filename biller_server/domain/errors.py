"""Refusals the domain can give, each with a stable code in the BBPS vocabulary (Setu's error codes where
one exists). Channels turn them into their partner's error shape; the domain never knows about HTTP."""

from __future__ import annotations


class DomainError(Exception):
    code = "unable-to-fulfil-request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InsufficientIdentifiers(DomainError):
    code = "insufficient-customer-identifiers"


class CustomerNotFound(DomainError):
    code = "customer-not-found"


class BillNotFound(DomainError):
    code = "bill-not-found"


class BillAlreadyFulfilled(DomainError):
    code = "bill-already-fulfilled"


class BillCancelled(DomainError):
    """The lender withdrew the bill; it takes no payment."""

    code = "bill-cancelled"


class AmountNotAllowed(DomainError):
    code = "incorrect-amount"


class TransactionConflict(DomainError):
    """A transaction reference seen before, now with different details: nothing is changed."""

    code = "transaction-conflict"
