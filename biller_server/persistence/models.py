"""The schema of the books. Money is integer paise in every column; statuses are stored by their value."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from biller_server.persistence.types import JSONDocument, UTCDateTime, str_enum, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class Channel(enum.StrEnum):
    """Who brought a payment or a message to the biller."""

    KALEIDOFIN = "kaleidofin"
    DIGILEDGE = "digiledge"
    SETU = "setu"
    OFFLINE = "offline"


class IdentifierKind(enum.StrEnum):
    CUSTOMER_ID = "customer_id"
    LOAN_ACCOUNT_NUMBER = "loan_account_number"
    MOBILE = "mobile"


class AmountExactness(enum.StrEnum):
    """BBPS amount exactness (Setu's summary): how a payment's amount may differ from the bill's."""

    EXACT = "EXACT"
    EXACT_UP = "EXACT_UP"  # at least the amount due
    EXACT_DOWN = "EXACT_DOWN"  # up to the amount due
    ANY = "ANY"
    RANGE = "RANGE"  # between the bill's min and max


class BillStatus(enum.StrEnum):
    OPEN = "OPEN"
    PARTIALLY_PAID = "PARTIALLY_PAID"
    PAID = "PAID"
    CANCELLED = "CANCELLED"
    # Settled outside BBPS (foreclosure, write-off): no longer offered, its payments kept (closed_at, closed_reason).
    CLOSED = "CLOSED"


class BillUploadState(enum.StrEnum):
    CHECKING = "checking"  # reading and checking the file; nothing written yet
    REFUSED = "refused"  # bad rows stopped it before any write
    APPLYING = "applying"  # writing, one batch of whole customers per transaction
    FINISHED = "finished"
    FAILED = "failed"  # an error stopped it; batches committed before the error stand
    INTERRUPTED = "interrupted"  # its process died (seen by the next upload); running the same file finishes it


class PaymentStatus(enum.StrEnum):
    RECEIVED = "RECEIVED"  # recorded and receipted; the partner has not yet confirmed the outcome
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"  # the partner says the money did not move: its effect on the bill is reversed
    UNRESOLVED = "UNRESOLVED"  # confirmation gave up; a person must look


class SettlementState(enum.StrEnum):
    """What a partner says about passing a confirmed payment's money on to the lender's bank."""

    CREDIT_RECEIVED = "credit_received"  # the partner holds the money; not yet sent on
    SETTLED = "settled"  # sent to the lender's bank (a settlement line names the UTR)
    SETTLEMENT_FAILED = "settlement_failed"  # the transfer failed; the partner retries


class JobKind(enum.StrEnum):
    CONFIRM_PAYMENT = "confirm_payment"
    RECORD_OFFLINE_PAYMENT = "record_offline_payment"
    DELIVER_RESPONSE = "deliver_response"
    DELIVER_WEBHOOK = "deliver_webhook"


class JobState(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    STOPPED = "stopped"  # the partner said the request itself is wrong; retrying cannot help
    UNRESOLVED = "unresolved"  # the schedule ran out


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Customer(TimestampMixin, Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    lender_customer_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    mobile: Mapped[str | None] = mapped_column(sa.String(20), index=True)  # Find by mobile

    identifiers: Mapped[list[CustomerIdentifier]] = relationship(back_populates="customer")
    bills: Mapped[list[Bill]] = relationship(back_populates="customer")


class CustomerIdentifier(Base):
    """A key by which BBPS may look a customer up: customer id, loan account number or mobile."""

    __tablename__ = "customer_identifiers"
    __table_args__ = (
        sa.UniqueConstraint("kind", "value", "customer_id"),
        sa.Index(None, "customer_id"),
        sa.Index(None, "value"),  # Find: a reference is looked for whatever its kind
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[IdentifierKind] = mapped_column(str_enum(IdentifierKind))
    value: Mapped[str] = mapped_column(sa.String(100))

    customer: Mapped[Customer] = relationship(back_populates="identifiers")


class Bill(TimestampMixin, Base):
    """An instalment the customer owes. ``paid_paise`` counts only payments that still stand."""

    __tablename__ = "bills"
    __table_args__ = (
        sa.CheckConstraint("amount_paise > 0", name="amount_positive"),
        sa.CheckConstraint("paid_paise >= 0", name="paid_not_negative"),
        sa.Index(None, "customer_id", "status"),
        sa.Index(None, "loan_account_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"))
    partner_bill_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    loan_account_number: Mapped[str | None] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(100))
    amount_paise: Mapped[int] = mapped_column(sa.BigInteger)
    paid_paise: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    exactness: Mapped[AmountExactness] = mapped_column(str_enum(AmountExactness))
    min_amount_paise: Mapped[int | None] = mapped_column(sa.BigInteger)
    max_amount_paise: Mapped[int | None] = mapped_column(sa.BigInteger)
    due_date: Mapped[dt.date] = mapped_column(sa.Date)
    generated_date: Mapped[dt.date] = mapped_column(sa.Date)
    status: Mapped[BillStatus] = mapped_column(str_enum(BillStatus), default=BillStatus.OPEN)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_reason: Mapped[str | None] = mapped_column(sa.String(200))

    customer: Mapped[Customer] = relationship(back_populates="bills")
    payments: Mapped[list[Payment]] = relationship(back_populates="bill")

    @property
    def balance_paise(self) -> int:
        return max(self.amount_paise - self.paid_paise, 0)


class BillUpload(Base):
    """One run of ``bills upload`` (dry runs are not recorded): what file, who, how far it got, what it did.

    The time of the last successful upload is ``finished_at`` of the newest row in state ``finished``.
    """

    __tablename__ = "bill_uploads"
    __table_args__ = (
        sa.Index(None, "state", "finished_at"),
        sa.Index(None, "file_sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(sa.String(255))
    file_path: Mapped[str] = mapped_column(sa.String(1000))  # absolute, so that --resume can read it again
    file_sha256: Mapped[str] = mapped_column(sa.String(64))
    file_size: Mapped[int] = mapped_column(sa.BigInteger)
    # How the file was read (sheet, column map, date order, skip_invalid): a resumed run reads it the same way.
    options: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    operator: Mapped[str] = mapped_column(sa.String(100))
    state: Mapped[BillUploadState] = mapped_column(str_enum(BillUploadState))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    rows: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    # What the check found to write; then, batch by batch, what was written (in the batch's own transaction).
    customers_to_write: Mapped[int] = mapped_column(default=0)
    customers_written: Mapped[int] = mapped_column(default=0)
    bills_created: Mapped[int] = mapped_column(default=0)
    bills_updated: Mapped[int] = mapped_column(default=0)
    bills_unchanged: Mapped[int] = mapped_column(default=0)
    conflicts: Mapped[int] = mapped_column(default=0)
    customers_created: Mapped[int] = mapped_column(default=0)
    customers_updated: Mapped[int] = mapped_column(default=0)
    batches: Mapped[int] = mapped_column(default=0)
    # A run of the same file that finished this interrupted one.
    resumed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("bill_uploads.id"))
    error: Mapped[str | None] = mapped_column(sa.Text)


class ChannelBillReference(Base):
    """A partner's own id for one of our bills (Kaleidofin's ``systemBillId``), kept for status checks."""

    __tablename__ = "channel_bill_references"
    __table_args__ = (
        sa.UniqueConstraint("channel", "partner_bill_ref"),
        sa.Index(None, "partner_bill_ref"),  # Find: whoever the partner
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    partner_bill_ref: Mapped[str] = mapped_column(sa.String(64))
    bill_id: Mapped[int] = mapped_column(sa.ForeignKey("bills.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Payment(TimestampMixin, Base):
    """Money a channel says a customer paid against a bill; unique per channel and partner reference."""

    __tablename__ = "payments"
    __table_args__ = (
        sa.UniqueConstraint("channel", "partner_txn_ref"),
        sa.UniqueConstraint("channel", "customer_txn_ref"),
        sa.CheckConstraint("amount_paise > 0", name="amount_positive"),
        sa.Index(None, "bill_id"),
        sa.Index(None, "status", "paid_at"),
        # A settlement names payments by the partner's bill id (Setu's platformBillID).
        sa.Index(None, "channel", "partner_bill_ref"),
        sa.Index(None, "settlement_ref"),  # find by UTR
        # Find: a transaction reference is looked for whoever the channel.
        sa.Index(None, "partner_txn_ref"),
        sa.Index(None, "customer_txn_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bill_id: Mapped[int] = mapped_column(sa.ForeignKey("bills.id"))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    # The partner's transaction reference: Kaleidofin's transactionId, Digiledge's refId.
    partner_txn_ref: Mapped[str] = mapped_column(sa.String(100))
    # A second reference some channels carry (Digiledge's txnReferenceId).
    customer_txn_ref: Mapped[str | None] = mapped_column(sa.String(100))
    # The partner's id for the bill (Kaleidofin's systemBillId).
    partner_bill_ref: Mapped[str | None] = mapped_column(sa.String(64))
    amount_paise: Mapped[int] = mapped_column(sa.BigInteger)
    declared_bill_amount_paise: Mapped[int | None] = mapped_column(sa.BigInteger)
    paid_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus), default=PaymentStatus.RECEIVED)
    status_reason: Mapped[str | None] = mapped_column(sa.String(200))
    reason_codes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDocument)
    # Whether the amount currently counts in the bill's paid_paise; a failed payment's effect is reversed.
    applied_to_bill: Mapped[bool] = mapped_column(default=True)
    flagged: Mapped[bool] = mapped_column(default=False)
    flag_reason: Mapped[str | None] = mapped_column(sa.String(200))
    # Where the money is on its way to the lender's bank (domain/settlement): None until a partner says.
    settlement_state: Mapped[SettlementState | None] = mapped_column(str_enum(SettlementState))
    settlement_ref: Mapped[str | None] = mapped_column(sa.String(100))  # the settlement's UTR, where known
    settled_on: Mapped[dt.date | None] = mapped_column(sa.Date)

    bill: Mapped[Bill] = relationship(back_populates="payments")
    receipt: Mapped[Receipt | None] = relationship(back_populates="payment")
    events: Mapped[list[PaymentEvent]] = relationship(back_populates="payment", order_by="PaymentEvent.id")


class Receipt(Base):
    __tablename__ = "receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(sa.ForeignKey("payments.id"), unique=True)
    receipt_number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    payment: Mapped[Payment] = relationship(back_populates="receipt")


class PaymentEvent(Base):
    """The audit trail of a payment: every change of state, with where it came from and why."""

    __tablename__ = "payment_events"
    __table_args__ = (sa.Index(None, "payment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(sa.ForeignKey("payments.id"))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(sa.String(40))
    from_status: Mapped[str | None] = mapped_column(sa.String(24))
    to_status: Mapped[str | None] = mapped_column(sa.String(24))
    source: Mapped[str] = mapped_column(sa.String(40))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)

    payment: Mapped[Payment] = relationship(back_populates="events")


class InboundMessage(Base):
    """Append-only log of every call a partner made to us, whatever became of it."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        sa.Index(None, "channel", "received_at"),
        sa.Index(None, "partner_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    channel: Mapped[str] = mapped_column(sa.String(24))
    method: Mapped[str] = mapped_column(sa.String(10))
    path: Mapped[str] = mapped_column(sa.String(300))
    source_address: Mapped[str | None] = mapped_column(sa.String(64))
    request_id: Mapped[str] = mapped_column(sa.String(64))
    headers: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    body: Mapped[bytes] = mapped_column(sa.LargeBinary)
    status_code: Mapped[int] = mapped_column()
    outcome: Mapped[str] = mapped_column(sa.String(48))
    partner_ref: Mapped[str | None] = mapped_column(sa.String(100))
    error: Mapped[str | None] = mapped_column(sa.Text)
    duration_ms: Mapped[float | None] = mapped_column()


class Job(TimestampMixin, Base):
    """Durable outbound work (a confirmation, a delivery) claimed by workers; nothing lives only in memory."""

    __tablename__ = "jobs"
    __table_args__ = (
        sa.Index(None, "state", "due_at"),
        sa.Index(None, "payment_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[JobKind] = mapped_column(str_enum(JobKind))
    partner: Mapped[str] = mapped_column(sa.String(24))
    payment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payments.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # At most one live job per key (e.g. "confirm_payment:42"), so a retried request cannot enqueue twice.
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(120), unique=True)
    state: Mapped[JobState] = mapped_column(str_enum(JobState), default=JobState.PENDING)
    # The schedule is measured from anchor_at (the payment's time), so a restart does not reset it.
    anchor_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(100))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(sa.String(40))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class OutboundCall(Base):
    """Every call we made to a partner, with secrets redacted."""

    __tablename__ = "outbound_calls"
    __table_args__ = (sa.Index(None, "job_id"), sa.Index(None, "partner", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int | None] = mapped_column(sa.ForeignKey("jobs.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    partner: Mapped[str] = mapped_column(sa.String(24))
    operation: Mapped[str] = mapped_column(sa.String(48))
    method: Mapped[str] = mapped_column(sa.String(10))
    url: Mapped[str] = mapped_column(sa.String(500))
    request_body: Mapped[str | None] = mapped_column(sa.Text)
    response_status: Mapped[int | None] = mapped_column()
    response_body: Mapped[str | None] = mapped_column(sa.Text)
    latency_ms: Mapped[float | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(sa.Text)
    # Written (with created_at) before the request is sent; set when the answer, or the failure, is known. A row
    # still without it is a call whose fate nobody saw (a worker killed mid-call): the partner may have it.
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class PaymentNotification(Base):
    """A partner's push about a payment's fate (Digiledge's Payment Notification), stored whole before the answer.

    An exact repeat (same body) is found by its fingerprint and answered with the acknowledgement the first
    delivery got. A notification for a payment we never saw, or one contradicting a final verdict, waits here
    for reconciliation (``needs_reconciliation``).
    """

    __tablename__ = "payment_notifications"
    __table_args__ = (
        sa.UniqueConstraint("channel", "fingerprint"),
        sa.Index(None, "channel", "ref_id"),
        sa.Index(None, "needs_reconciliation"),
        sa.Index(None, "ref_id"),  # Find, whoever the channel
        sa.Index(None, "msg_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    ref_id: Mapped[str] = mapped_column(sa.String(100))
    msg_id: Mapped[str | None] = mapped_column(sa.String(100))
    # SHA-256 of the body in canonical JSON form: equal bodies, equal fingerprints, whatever the key order.
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    reported_status: Mapped[str] = mapped_column(sa.String(100))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    reason_codes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDocument)
    payment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payments.id"))
    outcome: Mapped[str] = mapped_column(sa.String(40))
    ack_code: Mapped[int] = mapped_column()
    ack_status: Mapped[str] = mapped_column(sa.String(100))
    ack_reason: Mapped[str] = mapped_column(sa.String(100))
    needs_reconciliation: Mapped[bool] = mapped_column(default=False)
    # How a person settled a held notification (``notifications match`` / ``dismiss``): matched or dismissed.
    resolution: Mapped[str | None] = mapped_column(sa.String(24))
    resolved_by: Mapped[str | None] = mapped_column(sa.String(100))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    resolution_note: Mapped[str | None] = mapped_column(sa.Text)


class AdhocPaymentAccount(Base):
    """A customer's account for payments without a bill (Setu's validate-and-pay): one per customer and loan.

    Its id is what the validation answers as ``billerBillID`` (``ADHOC-<id>``); each payment on it books a bill of
    exactly the amount paid. ``loan_account_number`` is ``""`` for none: a NULL would defeat the unique key.
    """

    __tablename__ = "adhoc_payment_accounts"
    __table_args__ = (sa.UniqueConstraint("channel", "customer_id", "loan_account_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"))
    loan_account_number: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SettlementEvent(Base):
    """A partner's word that it settled money for some of its bills (Setu's BILL_SETTLEMENT_STATUS), stored whole
    before it is answered, keyed by the partner's event id. What did not match the books waits here for the
    settlement reconciliation (``needs_reconciliation``)."""

    __tablename__ = "settlement_events"
    __table_args__ = (sa.UniqueConstraint("channel", "event_id"), sa.Index(None, "needs_reconciliation"))

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    event_id: Mapped[str] = mapped_column(sa.String(100))
    event_type: Mapped[str] = mapped_column(sa.String(50))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[str | None] = mapped_column(sa.String(50))
    # The partner's reference for the money it moved (Setu's transactionId).
    settlement_ref: Mapped[str | None] = mapped_column(sa.String(100))
    amount_settled_paise: Mapped[int | None] = mapped_column(sa.BigInteger)
    # The sum of the matched payments: it may differ from the amount settled (charges are deducted).
    matched_paise: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # SHA-256 of the event in canonical JSON: a repeat has the same, a conflicting repeat another.
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    outcome: Mapped[str] = mapped_column(sa.String(40))
    needs_reconciliation: Mapped[bool] = mapped_column(default=False)
    conflicting_repeats: Mapped[int] = mapped_column(default=0)

    bills: Mapped[list[SettlementEventBill]] = relationship(back_populates="event", order_by="SettlementEventBill.id")


class SettlementEventBill(Base):
    """One bill a settlement names, and the payment it was matched to (None until a payment carries its id)."""

    __tablename__ = "settlement_event_bills"
    __table_args__ = (
        sa.UniqueConstraint("settlement_event_id", "platform_bill_id"),
        sa.Index(None, "platform_bill_id"),
        sa.Index(None, "payment_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_event_id: Mapped[int] = mapped_column(sa.ForeignKey("settlement_events.id"))
    platform_bill_id: Mapped[str] = mapped_column(sa.String(64))
    payment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payments.id"))

    event: Mapped[SettlementEvent] = relationship(back_populates="bills")


class RequestNonce(Base):
    """A signed request's unique id (a JWT's ``jti``), kept until its token could no longer be accepted anyway.

    The token signs no body, so the body's hash is kept with it: the same token with the same body is a partner's
    retry (let through: the endpoints are idempotent), the same token with another body is a replay (refused).
    """

    __tablename__ = "request_nonces"
    __table_args__ = (sa.UniqueConstraint("channel", "nonce"), sa.Index(None, "expires_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(24))
    nonce: Mapped[str] = mapped_column(sa.String(128))
    body_sha256: Mapped[str] = mapped_column(sa.String(64))
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class StaffRole(enum.StrEnum):
    """What a console user may do (docs/console.md): a viewer reads, an operator also acts, an admin also manages."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


class StaffUser(TimestampMixin, Base):
    """A person of the lender's operations desk who signs in to the console (managed with ``biller-server users``).

    ``session_version`` is in every session cookie the user holds; raising it (disable, new password, sign-out)
    ends all of them at once, although the cookies themselves live in browsers.
    """

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    role: Mapped[StaffRole] = mapped_column(str_enum(StaffRole))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    session_version: Mapped[int] = mapped_column(default=1)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class SignInFailure(Base):
    """Failed sign-ins by the name typed, existing user or not, so a lock-out says nothing about who exists."""

    __tablename__ = "sign_in_failures"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """One thing a person did or tried: a sign-in, a page action, a ``users`` command. Append-only."""

    __tablename__ = "audit_entries"
    __table_args__ = (sa.Index(None, "occurred_at"), sa.Index(None, "target"))

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(sa.String(100))  # a console user's name, or "cli:<os user>"
    action: Mapped[str] = mapped_column(sa.String(48))
    target: Mapped[str | None] = mapped_column(sa.String(200))  # e.g. "bill:TEST-124", "user:asha"
    outcome: Mapped[str] = mapped_column(sa.String(24))  # ok, refused, failed
    note: Mapped[str | None] = mapped_column(sa.Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    source_address: Mapped[str | None] = mapped_column(sa.String(64))
    request_id: Mapped[str | None] = mapped_column(sa.String(64))


class WorkerHeartbeat(Base):
    """One running worker and the last time it polled the queue: its heartbeat, seen from every host.

    Written by the worker itself every few seconds and deleted when it stops gracefully; a worker killed outright
    leaves its row to go stale, which is what /readyz, ``biller-server status`` and the heartbeat gauge report.
    """

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    host: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int] = mapped_column()
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_poll_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class SettlementLine(TimestampMixin, Base):
    """One transfer a partner says it made to the lender's bank (one UTR), covering one or more payments.

    Written by ``domain.settlement.record_partner_settlement`` from a partner's report file or notification; the
    same partner and reference twice is the same line.
    """

    __tablename__ = "settlement_lines"
    __table_args__ = (
        sa.UniqueConstraint("partner", "settlement_ref"),
        sa.Index(None, "settled_on"),
        sa.Index(None, "settlement_ref"),  # find by UTR, whoever the partner
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner: Mapped[str] = mapped_column(sa.String(24))
    settlement_ref: Mapped[str] = mapped_column(sa.String(100))  # the bank's UTR where the partner gives it
    settled_on: Mapped[dt.date] = mapped_column(sa.Date)
    amount_paise: Mapped[int] = mapped_column(sa.BigInteger)  # what the bank should receive (net of charges)
    source: Mapped[str] = mapped_column(sa.String(100))  # e.g. "file:setu-2026-11-29.csv", "setu:notification"

    items: Mapped[list[SettlementItem]] = relationship(back_populates="line", order_by="SettlementItem.id")


class SettlementItem(Base):
    """A payment a settlement line covers, by the partner's reference for it (found among ours or not)."""

    __tablename__ = "settlement_items"
    __table_args__ = (sa.UniqueConstraint("line_id", "payment_ref"), sa.Index(None, "payment_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(sa.ForeignKey("settlement_lines.id", ondelete="CASCADE"))
    payment_ref: Mapped[str] = mapped_column(sa.String(100))
    payment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payments.id"))
    # What the partner says the customer paid, where it says (compared with our payment's amount).
    amount_paise: Mapped[int | None] = mapped_column(sa.BigInteger)

    line: Mapped[SettlementLine] = relationship(back_populates="items")


class BankEntry(Base):
    """One line of the lender's bank statement, imported by ``bank import``; the same line twice is one row."""

    __tablename__ = "bank_entries"
    __table_args__ = (
        sa.UniqueConstraint("fingerprint"),
        sa.Index(None, "value_date"),
        sa.Index(None, "utr"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    value_date: Mapped[dt.date] = mapped_column(sa.Date)
    amount_paise: Mapped[int] = mapped_column(sa.BigInteger)  # always positive; ``credit`` says which way
    credit: Mapped[bool] = mapped_column()
    narration: Mapped[str] = mapped_column(sa.String(500))
    utr: Mapped[str | None] = mapped_column(sa.String(64))  # from the statement's column, else the narration
    # SHA-256 of date, amount, direction, narration, reference and the line's ordinal among identical lines.
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    source_file: Mapped[str] = mapped_column(sa.String(255))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReconciliationAck(Base):
    """A person's acknowledgement of a reconciliation break (``settlements ack``): its key, who, why."""

    __tablename__ = "reconciliation_acks"
    __table_args__ = (sa.UniqueConstraint("break_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    break_key: Mapped[str] = mapped_column(sa.String(200))
    note: Mapped[str] = mapped_column(sa.Text)
    acked_by: Mapped[str] = mapped_column(sa.String(100))
    acked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
