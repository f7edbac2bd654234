"""Recording a payment against a bill: the one place where a channel's payment changes the books.

Every channel (Kaleidofin's fetchReceipt, Digiledge's payment request, an offline payment) comes through
``record_payment``: the bill is locked, the transaction reference is checked for a replay, the amount is checked
against the bill's exactness, then the payment, its receipt, its audit event and its confirmation job are written
together. The caller commits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from biller_server.domain.billing.adhoc import adhoc_account, book_adhoc_bill
from biller_server.domain.billing.exactness import check_amount_allowed
from biller_server.domain.errors import (
    AmountNotAllowed,
    BillAlreadyFulfilled,
    BillCancelled,
    BillNotFound,
    TransactionConflict,
)
from biller_server.domain.money import rupees_text
from biller_server.domain.payments.confirmations import CONFIRMATION_JOB_COLUMNS, confirmation_job_row
from biller_server.domain.payments.receipts import receipt_issued, receipt_row
from biller_server.domain.settlement.notifications import link_waiting_settlements
from biller_server.persistence.direct import DirectStatement
from biller_server.persistence.models import (
    Bill,
    BillStatus,
    Channel,
    ChannelBillReference,
    Job,
    Payment,
    PaymentEvent,
    PaymentStatus,
    Receipt,
)
from biller_server.persistence.rows import as_persistent, bound_columns, hold_committed
from biller_server.persistence.types import utcnow
from biller_server.persistence.upsert import dialect_insert

# A payment larger than this many times what is still due on its bill is refused unless the bill's max amount allows
# it (BILLER_MAX_PAYMENT_MULTIPLE): the mark of an amount read in the wrong unit (paise as rupees is 100x) or a typo.
DEFAULT_MAX_DUE_MULTIPLE = 10


class Overpayment(AmountNotAllowed):
    """More than the configured multiple of the amount due, on a bill whose exactness sets no upper bound."""


@dataclass(frozen=True)
class PaymentRequest:
    """A channel's claim that money was paid against one of our bills, in plain values (paise)."""

    channel: Channel
    partner_txn_ref: str
    partner_bill_id: str
    amount_paise: int
    declared_bill_amount_paise: int | None = None
    partner_bill_ref: str | None = None  # the partner's id for our bill (Kaleidofin's systemBillId)
    customer_txn_ref: str | None = None
    paid_at: dt.datetime | None = None
    # What the confirming partner's status client needs besides the payment's columns (the job's payload).
    confirmation_payload: dict[str, Any] = field(default_factory=dict)


# What a payment the books would refuse does: refused (the payment has not happened yet, or the partner takes a
# refusal), or recorded and flagged for a person (Setu: the customer has already paid, and a refusal would leave
# money in no book; docs/channels/setu.md).
OnUnpayable = Literal["refuse", "flag"]


@dataclass(frozen=True)
class RecordedPayment:
    payment: Payment
    receipt: Receipt
    replayed: bool  # True when this was a retry of a payment already recorded: nothing changed


def record_payment(
    *,
    session: Session,
    request: PaymentRequest,
    confirm_with: str | None,
    now: dt.datetime,
    max_due_multiple: int = DEFAULT_MAX_DUE_MULTIPLE,
    on_unpayable: OnUnpayable = "refuse",
) -> RecordedPayment:
    """Record the payment, reduce the bill's balance and issue a receipt; a retry gets the first receipt.

    ``confirm_with`` names the partner whose status API will confirm the payment (None: no confirmation job).
    ``max_due_multiple``: a payment above this many times the amount due is refused (``Overpayment``), unless the
    bill's ``max_amount_paise`` allows it; channels pass ``Settings.max_payment_multiple``.
    ``on_unpayable="flag"``: a payment for a cancelled, closed or fully paid bill, with a stale declared bill
    amount or outside the bill's exactness is recorded and flagged instead of refused. An unknown bill and a
    conflicting retry are refused either way.
    """
    if request.amount_paise <= 0:
        raise AmountNotAllowed("The amount paid must be more than zero.")
    # Lock the bill first: concurrent payments against one bill queue here, and a retry that waited here sees
    # the payment its twin committed. A retry is found where a new payment would stop: the bill refusing it (a
    # retry of a payment that paid the bill in full), or the INSERT finding its reference taken. A new payment
    # thus costs no look-up of its reference; a retry costs one INSERT that does nothing.
    bill = _lock_bill(session, request.partner_bill_id)
    if bill is None:
        existing = _payment_by_reference(session, request.channel, request.partner_txn_ref)
        if existing is not None:
            return _replay(existing, request)
        raise BillNotFound(f"No bill with partnerBillId {request.partner_bill_id!r}.")
    flag_reason = None
    try:
        _check_payable(bill, request, max_due_multiple)
    except (BillCancelled, BillAlreadyFulfilled, AmountNotAllowed) as refusal:
        existing = _payment_by_reference(session, request.channel, request.partner_txn_ref)
        if existing is not None:
            return _replay(existing, request)
        if on_unpayable == "refuse":
            raise
        flag_reason = f"{refusal.code}: {refusal.message}"[:200]

    payment = _insert_payment(session, request, bill, now, flag_reason)
    if payment is None:
        # The reference is taken: a retry, or the same reference committed meanwhile against another bill (that
        # bill's lock did not stop it; PostgreSQL's INSERT waited for that transaction to commit). Nothing was
        # written.
        existing = _payment_by_reference(session, request.channel, request.partner_txn_ref)
        if existing is None and request.customer_txn_ref is not None and _customer_ref_taken(session, request):
            # The partner's second reference (Setu's platformTransactionRefID) names another payment.
            raise TransactionConflict(
                f"Transaction reference {request.customer_txn_ref!r} was already recorded for another payment; "
                "nothing was changed."
            )
        if existing is None:
            raise RuntimeError(f"Payment {request.partner_txn_ref!r} conflicted with a payment that cannot be found.")
        return _replay(existing, request)

    # The rest of what a new payment writes, computed here and written at once (no unit-of-work flush: it cost a
    # third of a receipt); the objects the callers read are the session's, with nothing left pending.
    _link(payment, bill)
    bill_values = _applied_to_bill(bill, request.amount_paise)
    receipt_values = receipt_row(payment_id=payment.id, now=now)
    writes: dict[str, dict[str, Any]] = {
        "bill": {"bill_id": bill.id, **bill_values},
        "receipt": receipt_values,
        "event": {
            "payment_id": payment.id,
            "occurred_at": now,
            "kind": "received",
            "from_status": None,
            "to_status": PaymentStatus.RECEIVED.value,
            "source": request.channel.value,
            "detail": {
                "amount_paise": request.amount_paise,
                "receipt_number": receipt_values["receipt_number"],
                **({"flag_reason": flag_reason} if flag_reason else {}),
            },
        },
    }
    if request.partner_bill_ref is not None:
        # The partner's id for this bill (e.g. systemBillId <-> partnerBillId), for later status checks. The first
        # bill a reference was given for keeps it: an INSERT that does nothing when the reference is known (rather
        # than a look-up, then an insert), so two payments naming one reference at once cannot collide.
        writes["reference"] = {
            "channel": request.channel,
            "partner_bill_ref": request.partner_bill_ref,
            "bill_id": bill.id,
            "created_at": utcnow(),
        }
    if confirm_with is not None:
        # Its payload: what the partner's status client asks with.
        writes["job"] = confirmation_job_row(
            payment_id=payment.id, confirm_with=confirm_with, now=now, payload=dict(request.confirmation_payload)
        )
    receipt_id = _write(session.connection(), writes)
    hold_committed(bill, bill_values)
    receipt = receipt_issued(session=session, payment=payment, receipt_id=receipt_id, values=receipt_values)
    return RecordedPayment(payment, receipt, replayed=False)


def record_posted_payment(
    *,
    session: Session,
    request: PaymentRequest,
    adhoc_bill_name: str,
    confirm_with: str | None,
    now: dt.datetime,
    max_due_multiple: int = DEFAULT_MAX_DUE_MULTIPLE,
) -> RecordedPayment:
    """A payment the partner has already taken from the customer (Setu's fetchReceipt), recorded come what may.

    ``request.partner_bill_id`` names a bill, or an ad-hoc payment account (validate-and-pay): then a bill of
    exactly the amount paid is booked first, its id derived from the payment's reference so a retry finds it. A
    payment the books would refuse (an overpayment beyond ``max_due_multiple`` included) is recorded and flagged
    (``on_unpayable="flag"``); a settlement that arrived before the payment is linked to it.
    """
    account = adhoc_account(session, request.partner_bill_id)
    if account is not None:
        booked = book_adhoc_bill(
            session=session,
            account=account,
            payment_ref=request.partner_txn_ref,
            amount_paise=request.amount_paise,
            bill_name=adhoc_bill_name,
            now=now,
        )
        # The booked bill's amount is the amount paid: a billAmount (absent for these billers) is not compared.
        request = dataclasses.replace(request, partner_bill_id=booked, declared_bill_amount_paise=None)
    recorded = record_payment(
        session=session,
        request=request,
        confirm_with=confirm_with,
        now=now,
        max_due_multiple=max_due_multiple,
        on_unpayable="flag",
    )
    if not recorded.replayed:
        link_waiting_settlements(session=session, payment=recorded.payment, now=now)
    return recorded


# Built once: each call only binds its values.
_BILLS = Bill.__table__
# Core, not ORM: the row becomes the session's Bill (refreshed if it was there: the lock's values are the truth).
_LOCK_BILL = DirectStatement(
    sa.select(_BILLS).where(_BILLS.c.partner_bill_id == sa.bindparam("partner_bill_id")).with_for_update()
)
_PAYMENT_BY_REFERENCE = (
    sa.select(Payment)
    .where(Payment.channel == sa.bindparam("channel"), Payment.partner_txn_ref == sa.bindparam("partner_txn_ref"))
    .execution_options(populate_existing=True)
)


def _insert_payment(
    session: Session, request: PaymentRequest, bill: Bill, now: dt.datetime, flag_reason: str | None
) -> Payment | None:
    """The new payment, or None when its channel already has a payment with either of its references.

    One ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` (no savepoint around a flush to survive a unique
    violation): a Core statement returning every column, whose row becomes the session's Payment.
    """
    values = {
        "bill_id": bill.id,
        "channel": request.channel,
        "partner_txn_ref": request.partner_txn_ref,
        "customer_txn_ref": request.customer_txn_ref,
        "partner_bill_ref": request.partner_bill_ref,
        "amount_paise": request.amount_paise,
        "declared_bill_amount_paise": request.declared_bill_amount_paise,
        "paid_at": request.paid_at or now,
        "flagged": flag_reason is not None,
        "flag_reason": flag_reason,
        "created_at": now,
        "updated_at": now,
    }
    row = _INSERT_PAYMENT[session.get_bind().dialect.name].one_or_none(session, values)
    return None if row is None else as_persistent(session, Payment, row)


def _insert_payment_statement(insert: Any) -> Any:
    """Built once per dialect, with bound values (as ``_LOCK_BILL``): each call only binds."""
    table = Payment.__table__
    names = ("bill_id", "channel", "partner_txn_ref", "customer_txn_ref", "partner_bill_ref", "amount_paise",
             "declared_bill_amount_paise", "paid_at", "flagged", "flag_reason", "created_at", "updated_at")  # fmt: skip
    return (
        insert(table)
        .values(
            {
                **bound_columns(table, names),
                "status": PaymentStatus.RECEIVED,
                "applied_to_bill": True,
            }
        )
        .on_conflict_do_nothing()
        .returning(*table.c)
    )


_INSERT_PAYMENT = {
    dialect: DirectStatement(_insert_payment_statement(dialect_insert(dialect))) for dialect in ("postgresql", "sqlite")
}


def _lock_bill(session: Session, partner_bill_id: str) -> Bill | None:
    session.flush()  # what the ORM's autoflush did: a bill added in this session (a test's, an ad-hoc one) is found
    row = _LOCK_BILL.one_or_none(session, {"partner_bill_id": partner_bill_id})
    return None if row is None else as_persistent(session, Bill, row)


def _payment_by_reference(session: Session, channel: Channel, partner_txn_ref: str) -> Payment | None:
    return session.scalars(
        _PAYMENT_BY_REFERENCE, {"channel": channel, "partner_txn_ref": partner_txn_ref}
    ).one_or_none()


def _customer_ref_taken(session: Session, request: PaymentRequest) -> bool:
    return (
        session.scalar(
            sa.select(Payment.id).where(
                Payment.channel == request.channel, Payment.customer_txn_ref == request.customer_txn_ref
            )
        )
        is not None
    )


def _replay(existing: Payment, request: PaymentRequest) -> RecordedPayment:
    differences = []
    if existing.bill.partner_bill_id != request.partner_bill_id:
        differences.append("bill")
    if existing.amount_paise != request.amount_paise:
        differences.append("amount paid")
    if (
        request.declared_bill_amount_paise is not None
        and existing.declared_bill_amount_paise != request.declared_bill_amount_paise
    ):
        differences.append("bill amount")
    if request.partner_bill_ref is not None and existing.partner_bill_ref != request.partner_bill_ref:
        differences.append("system bill id")
    if differences:
        raise TransactionConflict(
            f"Transaction {request.partner_txn_ref!r} was already recorded with a different "
            f"{', '.join(differences)}; nothing was changed."
        )
    assert existing.receipt is not None, "every recorded payment has a receipt"
    return RecordedPayment(existing, existing.receipt, replayed=True)


def _check_payable(bill: Bill, request: PaymentRequest, max_due_multiple: int) -> None:
    if bill.status is BillStatus.CANCELLED:
        raise BillCancelled(f"Bill {bill.partner_bill_id} was cancelled by the biller and takes no payment.")
    if bill.status is BillStatus.CLOSED:
        # BBPS has no code for a loan closed outside it; "cancelled by the biller" is the refusal every channel
        # already maps, and it tells the customer the truth that matters: this bill takes no payment.
        raise BillCancelled(f"Bill {bill.partner_bill_id} was closed by the biller and takes no payment.")
    if bill.status is BillStatus.PAID or bill.balance_paise == 0:
        raise BillAlreadyFulfilled(f"Bill {bill.partner_bill_id} is already paid in full.")
    if request.declared_bill_amount_paise is not None and request.declared_bill_amount_paise != bill.balance_paise:
        raise AmountNotAllowed(
            f"billAmount {rupees_text(request.declared_bill_amount_paise)} does not match the amount due on bill "
            f"{bill.partner_bill_id}, {rupees_text(bill.balance_paise)}."
        )
    check_amount_allowed(bill, request.amount_paise)
    _check_not_an_overpayment(bill, request.amount_paise, max_due_multiple)


def _check_not_an_overpayment(bill: Bill, amount_paise: int, max_due_multiple: int) -> None:
    """EXACT_UP and ANY bills take any amount from the balance up: this is their upper bound, so that an amount read
    in the wrong unit ("100300" paise taken for rupees) or mistyped is refused rather than booked."""
    limit = bill.balance_paise * max_due_multiple
    if amount_paise <= limit:
        return
    if bill.max_amount_paise is not None and amount_paise <= bill.max_amount_paise:
        return  # the lender said this bill may take that much
    raise Overpayment(
        f"The amount paid, {rupees_text(amount_paise)} rupees, is more than {max_due_multiple} times the amount due "
        f"on bill {bill.partner_bill_id}, {rupees_text(bill.balance_paise)}; nothing was recorded."
    )


def _link(payment: Payment, bill: Bill) -> None:
    """``payment.bill = bill`` without history (the payment's row already names its bill), and the bill's payments
    if they were loaded, as the backref would have done."""
    set_committed_value(payment, "bill", bill)
    if "payments" not in sa.inspect(bill).unloaded:
        set_committed_value(bill, "payments", [*bill.payments, payment])


def _applied_to_bill(bill: Bill, amount_paise: int) -> dict[str, Any]:
    """The (locked) bill's new values once the payment counts on it."""
    paid_paise = bill.paid_paise + amount_paise
    status = bill.status
    if status not in (BillStatus.CANCELLED, BillStatus.CLOSED):
        # (A flagged payment on a bill the biller took back is counted; the bill is not reopened.)
        status = BillStatus.PAID if paid_paise >= bill.amount_paise else BillStatus.PARTIALLY_PAID
    return {"paid_paise": paid_paise, "status": status, "updated_at": utcnow()}


def _write(connection: sa.Connection, writes: dict[str, dict[str, Any]]) -> int:
    """Write a new payment's other rows (``writes``: the bill's new values, the receipt, the event, and where
    given the partner's bill reference and the confirmation job); the receipt's id.

    PostgreSQL: one statement, each write a data-modifying CTE (four round trips fewer per receipt, and four
    statements' Python). SQLite has no data-modifying CTEs: the same statements one after another.
    """
    names = tuple(name for name in _WRITE_ORDER if name in writes)
    parameters = {f"{name}_{column}": value for name in names for column, value in writes[name].items()}
    if connection.dialect.name == "postgresql":
        return _all_writes(names).rows(connection, parameters)[0][0]  # type: ignore[no-any-return]
    receipt_id = 0
    for name in names:
        rows = _writes(connection.dialect.name)[name].rows(connection, parameters)
        if name == "receipt":
            receipt_id = rows[0][0]
    return receipt_id


_WRITE_ORDER = ("reference", "bill", "receipt", "event", "job")


@functools.cache
def _writes(dialect: str) -> dict[str, DirectStatement]:
    """SQLite: each of ``_write_statements`` run on its own."""
    return {name: DirectStatement(statement) for name, statement in _write_statements(dialect).items()}


@functools.cache
def _write_statements(dialect: str) -> dict[str, Any]:
    """Each write as a statement built once, its values bound by name (``<write>_<column>``)."""

    def bound(table: sa.Table, write: str, columns: Sequence[str]) -> dict[str, Any]:
        return bound_columns(table, columns, prefix=f"{write}_")

    insert = dialect_insert(dialect)
    references = ChannelBillReference.__table__
    receipts = Receipt.__table__
    events = PaymentEvent.__table__
    jobs = Job.__table__
    return {
        "reference": insert(references)
        .values(bound(references, "reference", ("channel", "partner_bill_ref", "bill_id", "created_at")))
        .on_conflict_do_nothing(index_elements=["channel", "partner_bill_ref"]),
        "bill": sa.update(_BILLS)
        .where(_BILLS.c.id == sa.bindparam("bill_bill_id"))
        .values(bound(_BILLS, "bill", ("paid_paise", "status", "updated_at"))),
        "receipt": sa.insert(receipts)
        .values(bound(receipts, "receipt", ("payment_id", "receipt_number", "issued_at")))
        .returning(receipts.c.id),
        "event": sa.insert(events).values(
            bound(
                events, "event", ("payment_id", "occurred_at", "kind", "from_status", "to_status", "source", "detail")
            )
        ),
        "job": sa.insert(jobs).values(bound(jobs, "job", CONFIRMATION_JOB_COLUMNS)),
    }


@functools.cache
def _all_writes(names: tuple[str, ...]) -> DirectStatement:
    """PostgreSQL: the writes ``names`` in one statement, that returns the receipt's id (a data-modifying CTE runs
    to completion whether or not the statement reads it)."""
    statements = _write_statements("postgresql")
    receipt = statements["receipt"].cte("receipt")
    return DirectStatement(
        sa.select(receipt.c.id).add_cte(*(statements[name].cte(name) for name in names if name != "receipt"))
    )
