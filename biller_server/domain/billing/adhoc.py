"""Ad-hoc payment accounts: payments without a fetched bill (Setu's validate-and-pay, setu-validate-pay.mdx).

A validation names the customer's account, ``ADHOC-<10 digits>``, one per customer and loan account number (none:
``""``). A payment posted against it books a bill of exactly the amount paid, whose id is derived from the
payment's reference, so a retried posting finds the same bill. Lenders' own bill ids never start with ``ADHOC-``
(the bill upload refuses them), so the two kinds of id never meet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.india import IST
from biller_server.persistence.models import AdhocPaymentAccount, AmountExactness, Bill, BillStatus, Channel
from biller_server.persistence.upsert import insert_for

ADHOC_PREFIX = "ADHOC-"
_ACCOUNT_ID = re.compile(r"ADHOC-([0-9]{10})")
_MAX_ACCOUNT_ID = 2**31 - 1  # the id column is a 32-bit integer on PostgreSQL


def open_adhoc_account(
    *, session: Session, channel: Channel, customer_id: int, loan_account_number: str | None, now: dt.datetime
) -> str:
    """The customer's ad-hoc account id, created by the first validation and the same for every later one.

    One INSERT that does nothing when the account exists, then a read: concurrent validations of one customer
    cannot create two accounts.
    """
    loan = loan_account_number or ""
    table = AdhocPaymentAccount.__table__
    session.execute(
        insert_for(session, table)
        .values(channel=channel, customer_id=customer_id, loan_account_number=loan, created_at=now)
        .on_conflict_do_nothing(index_elements=["channel", "customer_id", "loan_account_number"])
    )
    account_id = session.scalar(
        sa.select(AdhocPaymentAccount.id).where(
            AdhocPaymentAccount.channel == channel,
            AdhocPaymentAccount.customer_id == customer_id,
            AdhocPaymentAccount.loan_account_number == loan,
        )
    )
    assert account_id is not None, "the account was just inserted or already there"
    return f"{ADHOC_PREFIX}{account_id:010d}"


def adhoc_account(session: Session, biller_bill_id: str) -> AdhocPaymentAccount | None:
    """The ad-hoc account a ``billerBillID`` names, or None when it names a bill (or nothing)."""
    match = _ACCOUNT_ID.fullmatch(biller_bill_id)
    if match is None or int(match.group(1)) > _MAX_ACCOUNT_ID:
        return None  # ten digits can name more accounts than the id column holds: those name nothing
    return session.get(AdhocPaymentAccount, int(match.group(1)))


def book_adhoc_bill(
    *,
    session: Session,
    account: AdhocPaymentAccount,
    payment_ref: str,
    amount_paise: int,
    bill_name: str,
    now: dt.datetime,
) -> str:
    """Book the bill an ad-hoc payment pays (exactly its amount, generated and due today in India); its id.

    The id is ``ADHOC-<account>-<20 hex of SHA-256(payment_ref)>``: a retry of the same payment finds the bill the
    first posting booked (the INSERT does nothing then), and ``record_payment`` answers it with the first receipt.
    """
    digest = hashlib.sha256(payment_ref.encode()).hexdigest()[:20]
    partner_bill_id = f"{ADHOC_PREFIX}{account.id:010d}-{digest}"
    today = now.astimezone(IST).date()
    session.execute(
        insert_for(session, Bill.__table__)
        .values(
            customer_id=account.customer_id,
            partner_bill_id=partner_bill_id,
            loan_account_number=account.loan_account_number or None,
            name=bill_name,
            amount_paise=amount_paise,
            paid_paise=0,
            exactness=AmountExactness.EXACT,
            due_date=today,
            generated_date=today,
            status=BillStatus.OPEN,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["partner_bill_id"])
    )
    return partner_bill_id
