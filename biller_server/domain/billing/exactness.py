"""What a customer may pay on a bill, by its amount exactness (Setu's summary, section 2)."""

from __future__ import annotations

from dataclasses import dataclass

from biller_server.domain.errors import AmountNotAllowed
from biller_server.domain.money import rupees_text
from biller_server.persistence.models import AmountExactness, Bill


@dataclass(frozen=True)
class PayableRange:
    """Inclusive bounds in paise; ``maximum`` None means no upper bound."""

    minimum: int
    maximum: int | None

    def allows(self, amount_paise: int) -> bool:
        return amount_paise >= self.minimum and (self.maximum is None or amount_paise <= self.maximum)


def payable_range(bill: Bill) -> PayableRange:
    """The amounts the bill accepts now, measured against what is still due on it.

    The same range is offered in a bill fetch and enforced when the payment arrives, so a customer is never
    refused an amount that the biller itself offered. A RANGE bill's bounds shrink with its balance.
    """
    balance = bill.balance_paise
    match bill.exactness:
        case AmountExactness.EXACT:
            return PayableRange(balance, balance)
        case AmountExactness.EXACT_UP:
            return PayableRange(balance, None)
        case AmountExactness.EXACT_DOWN:
            return PayableRange(1, balance)
        case AmountExactness.ANY:
            return PayableRange(1, None)
        case AmountExactness.RANGE:
            minimum = min(bill.min_amount_paise or 1, balance)
            maximum = min(bill.max_amount_paise or balance, balance)
            return PayableRange(minimum, maximum)
    raise AssertionError(f"unknown exactness {bill.exactness!r}")


def check_amount_allowed(bill: Bill, amount_paise: int) -> None:
    allowed = payable_range(bill)
    if allowed.allows(amount_paise):
        return
    if allowed.maximum is None:
        words = f"at least {rupees_text(allowed.minimum)}"
    elif allowed.minimum == allowed.maximum:
        words = f"exactly {rupees_text(allowed.minimum)}"
    else:
        words = f"between {rupees_text(allowed.minimum)} and {rupees_text(allowed.maximum)}"
    raise AmountNotAllowed(
        f"Bill {bill.partner_bill_id} is {bill.exactness.value}: the amount paid must be {words} rupees, "
        f"not {rupees_text(amount_paise)}."
    )
