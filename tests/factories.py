"""factory-boy factories for the books, bound to the test's session by the ``session`` fixture."""

from __future__ import annotations

import datetime as dt

import factory
from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy.orm import Session

from biller_server.persistence.models import (
    AmountExactness,
    Bill,
    BillStatus,
    Channel,
    Customer,
    CustomerIdentifier,
    IdentifierKind,
    Job,
    JobKind,
    Payment,
    PaymentNotification,
    PaymentStatus,
    Receipt,
)

TODAY = dt.date(2026, 11, 1)

# One valid row of the bill-upload CSV (column -> text), for the upload's domain, CSV and CLI tests.
GOOD_BILL_ROW = {
    "customer_id": "C1",
    "customer_name": "Asha Devi",
    "mobile": "9876543210",
    "loan_account_number": "LN1",
    "partner_bill_id": "B1",
    "bill_name": "Instalment 1 of 12",
    "amount": "1000.00",
    "due_date": "2026-11-15",
    "generated_date": "2026-11-01",
    "amount_exactness": "EXACT",
    "min_amount": "",
    "max_amount": "",
}


class _Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session = None
        sqlalchemy_session_persistence = "flush"


class CustomerFactory(_Base):
    class Meta:
        model = Customer

    lender_customer_id = factory.Sequence(lambda n: f"CUST{n:06d}")
    name = factory.Sequence(lambda n: f"Customer {n}")
    mobile = factory.Sequence(lambda n: f"9{n:09d}")

    @factory.post_generation
    def identifiers(self, create: bool, extracted: list[tuple[IdentifierKind, str]] | None, **_: object) -> None:
        """Index the customer by its id and mobile, plus any (kind, value) pairs given."""
        if not create:
            return
        pairs = [(IdentifierKind.CUSTOMER_ID, self.lender_customer_id)]
        if self.mobile:
            pairs.append((IdentifierKind.MOBILE, self.mobile))
        pairs += list(extracted or [])
        session = CustomerFactory._meta.sqlalchemy_session
        for kind, value in pairs:
            session.add(CustomerIdentifier(customer=self, kind=kind, value=value))
        session.flush()


class BillFactory(_Base):
    class Meta:
        model = Bill

    customer = factory.SubFactory(CustomerFactory)
    partner_bill_id = factory.Sequence(lambda n: f"BILL-{n:06d}")
    loan_account_number = factory.Sequence(lambda n: f"LAN{n:08d}")
    name = "November instalment"
    amount_paise = 100_000
    paid_paise = 0
    exactness = AmountExactness.EXACT
    due_date = TODAY + dt.timedelta(days=14)
    generated_date = TODAY
    status = BillStatus.OPEN


class PaymentFactory(_Base):
    class Meta:
        model = Payment

    bill = factory.SubFactory(BillFactory)
    channel = Channel.KALEIDOFIN
    partner_txn_ref = factory.Sequence(lambda n: f"TXN{n:010d}")
    amount_paise = factory.LazyAttribute(lambda payment: payment.bill.amount_paise)
    paid_at = factory.LazyFunction(lambda: dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC))
    status = PaymentStatus.RECEIVED


class ReceiptFactory(_Base):
    class Meta:
        model = Receipt

    payment = factory.SubFactory(PaymentFactory)
    receipt_number = factory.Sequence(lambda n: f"R{n:010d}")
    issued_at = factory.LazyFunction(lambda: dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC))


ALL_FACTORIES: list[type[SQLAlchemyModelFactory]] = [
    CustomerFactory,
    BillFactory,
    PaymentFactory,
    ReceiptFactory,
]


def bind(session: Session | None) -> None:
    for factory_class in [_Base, *ALL_FACTORIES]:
        factory_class._meta.sqlalchemy_session = session


def held_notification(
    session: Session, ref_id: str, *, status: str = "Successful", payment: Payment | None = None
) -> PaymentNotification:
    """A Digiledge notification held for a person: for a refId we do not know, or (``payment``) contradicting it."""
    notification = PaymentNotification(
        received_at=dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC),
        channel=Channel.DIGILEDGE,
        ref_id=ref_id,
        fingerprint=ref_id.ljust(64, "0"),
        body={"refId": ref_id, "status": status},
        reported_status=status,
        payment_id=payment.id if payment else None,
        outcome="unknown_payment" if payment is None else "contradiction",
        ack_code=0,
        ack_status="SUCCESS",
        ack_reason="Accepted",
        needs_reconciliation=True,
    )
    session.add(notification)
    session.flush()
    return notification


def post_attempted(session: Session, payment: Payment, at: str = "2026-11-02T04:30:00+00:00") -> Job:
    """The payment's posting job marked "post attempted" with no call row: a post that may have landed at ``at``
    (written before calls were written ahead of sending)."""
    moment = dt.datetime.fromisoformat(at)
    job = Job(
        kind=JobKind.RECORD_OFFLINE_PAYMENT,
        partner="kaleidofin",
        payment_id=payment.id,
        payload={"post_attempted_at": at},
        anchor_at=moment,
        due_at=moment,
    )
    session.add(job)
    session.flush()
    return job
