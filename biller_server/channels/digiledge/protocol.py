"""Digiledge's asynchronous biller protocol: answer a request by queueing its response, once per refId.

Each request (bill fetch, bill validation, bill payment, transaction status) is decided at once, in the caller's
transaction: the payment, if any, is recorded and the response message is queued for delivery to the BOU
(``enqueue_delivery``) together, so the acknowledgement the caller sends after its commit always describes work
that is in the books. The delivery job's ``dedupe_key`` (``digiledge:{operation}:{refId}``) makes a repeated
request queue nothing: it gets the first acknowledgement again, or a conflict when the same refId now carries a
different request. docs/channels/digiledge.md records every decision taken where the pages are silent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from biller_server.channels.digiledge import messages as m
from biller_server.channels.digiledge.acks import Ack
from biller_server.channels.digiledge.messages import Refusal
from biller_server.config import DigiledgeAmountUnit
from biller_server.domain.billing.fetch import CustomerBills, fetch_customer_bills
from biller_server.domain.billing.identifiers import IdentifierProblem, IdentifiersRefused, resolve_identifiers
from biller_server.domain.deliveries import enqueue_delivery
from biller_server.domain.errors import (
    AmountNotAllowed,
    BillAlreadyFulfilled,
    BillCancelled,
    BillNotFound,
    CustomerNotFound,
    DomainError,
    InsufficientIdentifiers,
    TransactionConflict,
)
from biller_server.domain.payments.recording import DEFAULT_MAX_DUE_MULTIPLE, PaymentRequest, record_payment
from biller_server.persistence.models import Bill, Channel, InboundMessage, Job, JobKind, Payment, PaymentStatus

RECEIVER = "digiledge"
MAX_CUSTOMER_PARAMS = 10
# A tenantId found in the inbound log is sent only if it has the form the request schema accepts.
TENANT_ID_FORM = re.compile(r"[A-Za-z0-9]{1,10}")
MAX_CHAIN_MESSAGES = 20  # a refId's fetch, validation, payment and their repeats: never more in practice

ACKS = {
    m.BILL_FETCH_RESPONSE: Ack(200, "ACCEPTED", "Bill fetch accepted; the bill follows at /BillFetchResponse"),
    m.BILL_VALIDATION_RESPONSE: Ack(
        200, "ACCEPTED", "Bill validation accepted; the result follows at /BillValidationResponse"
    ),
    m.BILL_PAYMENT_RESPONSE: Ack(200, "ACCEPTED", "Bill payment accepted; the result follows at /BillPaymentResponse"),
    m.TXN_STATUS_RESPONSE: Ack(200, "ACCEPTED", "Status request accepted; the status follows at /TxnStatusResponse"),
}


# Refused customerParams, in the words of the Failure's errorDescription (its code is BLR002).
CUSTOMER_PARAMS_REFUSALS = {
    IdentifierProblem.NONE_GIVEN: "No customerParams were given.",
    IdentifierProblem.TOO_MANY: "At most {refused.limit} customerParams are accepted.",
    IdentifierProblem.UNKNOWN_NAME: "customerParams name {refused.name!r} is not accepted by this biller.",
    IdentifierProblem.EMPTY_VALUE: "customerParams value for {refused.name!r} is empty.",
    IdentifierProblem.TWO_VALUES: "Two different values were given for {refused.meaning}.",
}


class NotThisBiller(DomainError):
    """The request names another biller: a routing mistake, answered as invalid, nothing queued."""

    code = "invalid-biller"


class RefIdReused(TransactionConflict):
    """The refId was already answered for a different request; the first response stands."""


class TenantUnknown(DomainError):
    """A response the pages mark tenantId mandatory for would go out without one: refused, nothing queued."""

    code = "tenant-id-unknown"


@dataclass(frozen=True)
class ProtocolTerms:
    """The biller's side of the protocol, from the settings."""

    customer_params: Mapping[str, str]  # accepted name (case and spaces ignored) -> identifier meaning
    biller_id: str | None = None  # when set, requests for another billerId are refused
    tenant_id: str | None = None  # sent when the request carried none
    confirm_with: str | None = None  # partner whose status API confirms payments
    amount_unit: DigiledgeAmountUnit = DigiledgeAmountUnit.RUPEES  # how amounts are written both ways
    max_due_multiple: int = DEFAULT_MAX_DUE_MULTIPLE  # a payment above this many times the amount due is refused


@dataclass(frozen=True)
class BillFetchRequest:
    ref_id: str
    biller_id: str
    tenant_id: str | None
    customer_params: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class BillValidationRequest:
    ref_id: str
    biller_id: str
    tenant_id: str | None
    customer_params: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class BillPaymentRequest:
    ref_id: str
    txn_reference_id: str
    txn_type: str | None
    biller_id: str
    tenant_id: str | None
    customer_params: tuple[tuple[str, str], ...]
    amount_paise: int
    bill_number: str | None = None  # billerResponse.billNumber: our fetch answer, copied by NPCI
    declared_bill_amount_paise: int | None = None  # billerResponse.amount

    @property
    def is_reversal(self) -> bool:
        return "revers" in (self.txn_type or "").lower()


@dataclass(frozen=True)
class TxnStatusRequest:
    ref_id: str
    msg_id: str | None
    txn_reference_id: str
    tenant_id: str | None


@dataclass(frozen=True)
class Acknowledged:
    ack: Ack
    repeated: bool  # a repeat of a request already answered: nothing new was queued


def receive_bill_fetch(
    *, session: Session, request: BillFetchRequest, terms: ProtocolTerms, now: dt.datetime
) -> Acknowledged:
    """Queue the BillFetchResponse for the customer the params name: its earliest-due bill, or a Failure."""
    _check_biller(request.biller_id, terms)
    tenant_id = request.tenant_id or terms.tenant_id

    def build() -> tuple[dict[str, Any], int | None]:
        try:
            found = _find_customer(session, request.customer_params, terms)
        except DomainError as exc:
            return _refused(request.ref_id, tenant_id, exc), None
        if not found.bills:
            return _no_bill_due(request.ref_id, tenant_id), None
        bill = m.earliest_due(found.bills)
        body = m.bill_fetch_success(
            ref_id=request.ref_id,
            tenant_id=tenant_id,
            customer=found.customer,
            bill=bill,
            payable=found.bills,
            unit=terms.amount_unit,
        )
        return body, None

    return _answer_once(session, m.BILL_FETCH_RESPONSE, request.ref_id, request, build, now)


def receive_bill_validation(
    *, session: Session, request: BillValidationRequest, terms: ProtocolTerms, now: dt.datetime
) -> Acknowledged:
    """Queue the BillValidationResponse: Successful when the params name one customer with a bill due."""
    _check_biller(request.biller_id, terms)
    tenant_id = request.tenant_id or terms.tenant_id

    def build() -> tuple[dict[str, Any], int | None]:
        try:
            found = _find_customer(session, request.customer_params, terms)
        except DomainError as exc:
            return _refused(request.ref_id, tenant_id, exc, additionalInfo=[]), None
        if not found.bills:
            return _no_bill_due(request.ref_id, tenant_id, additionalInfo=[]), None
        bill = m.earliest_due(found.bills)
        body = m.bill_validation_success(
            ref_id=request.ref_id,
            tenant_id=tenant_id,
            customer=found.customer,
            bill=bill,
            payable=found.bills,
            unit=terms.amount_unit,
        )
        return body, None

    return _answer_once(session, m.BILL_VALIDATION_RESPONSE, request.ref_id, request, build, now)


def receive_bill_payment(
    *, session: Session, request: BillPaymentRequest, terms: ProtocolTerms, now: dt.datetime
) -> Acknowledged:
    """Record the payment (``record_payment``: exactness, receipt, confirmation job) and queue its response.

    A payment refused by the books (unknown bill, wrong amount, paid or cancelled bill, ...) is still
    acknowledged: its BillPaymentResponse is a Failure with the reason's error code, and nothing is recorded.
    """
    _check_biller(request.biller_id, terms)
    offered = _queued_body(session, _dedupe_key(m.BILL_FETCH_RESPONSE, request.ref_id))
    tenant_id = (
        request.tenant_id
        or offered.get("tenantId")
        or terms.tenant_id
        or tenant_of_request_chain(session, [request.ref_id])  # e.g. the validation's
    )

    def build() -> tuple[dict[str, Any], int | None]:
        return _pay(session, request, terms, tenant_id, offered, now)

    return _answer_once(session, m.BILL_PAYMENT_RESPONSE, request.ref_id, request, build, now)


def receive_txn_status(
    *, session: Session, request: TxnStatusRequest, terms: ProtocolTerms, now: dt.datetime
) -> Acknowledged:
    """Queue the TxnStatusResponse of the Digiledge payment with that txnReferenceId, as the books have it now.

    Its tenantId (mandatory, digiledge-txnstatusresponse-endpoint.md) is the request's, else
    ``BILLER_DIGILEDGE_TENANT_ID``, else the one the payment's own requests carried (its refId's fetch, validation
    and payment, in the inbound log); with none of them the request is refused and nothing is queued.
    """

    def build() -> tuple[dict[str, Any], int | None]:
        payment = session.scalars(
            sa.select(Payment).where(
                Payment.channel == Channel.DIGILEDGE, Payment.customer_txn_ref == request.txn_reference_id
            )
        ).one_or_none()
        chain = [request.ref_id] if payment is None else [payment.partner_txn_ref, request.ref_id]
        tenant_id = request.tenant_id or terms.tenant_id or tenant_of_request_chain(session, chain)
        if not tenant_id:
            raise TenantUnknown(
                "No tenantId for the TxnStatusResponse: the request carries none, the payment's requests carried "
                "none and BILLER_DIGILEDGE_TENANT_ID is not set; nothing was queued."
            )
        if payment is None:
            body = m.failure(
                ref_id=request.ref_id,
                tenant_id=tenant_id,
                refusal=Refusal.TRANSACTION_NOT_FOUND,
                description=f"No payment with txnReferenceId {request.txn_reference_id} was recorded by the biller",
            )
            return body, None
        if payment.status is PaymentStatus.FAILED:
            body = m.failure(
                ref_id=request.ref_id,
                tenant_id=tenant_id,
                refusal=Refusal.PAYMENT_FAILED,
                description="The payment failed (NPCI reported failure); its amount is owed again",
            )
            return body, payment.id
        # RECEIVED, CONFIRMED, UNRESOLVED: the payment stands on the bill with its receipt.
        return m.txn_status_success(ref_id=request.ref_id, tenant_id=tenant_id), payment.id

    # Each status request has its own msgId under the payment's refId: a later question is answered again.
    ref_key = f"{request.ref_id}:{request.msg_id}" if request.msg_id else request.ref_id
    return _answer_once(session, m.TXN_STATUS_RESPONSE, ref_key, request, build, now)


def tenant_of_request_chain(session: Session, ref_ids: Sequence[str]) -> str | None:
    """The tenantId that a Digiledge request under one of these refIds carried, newest first (the inbound log
    keeps every accepted request's body), or None."""
    bodies = session.scalars(
        sa.select(InboundMessage.body)
        .where(
            InboundMessage.channel == Channel.DIGILEDGE.value,
            InboundMessage.partner_ref.in_(ref_ids),
            InboundMessage.status_code == 200,
        )
        .order_by(InboundMessage.id.desc())
        .limit(MAX_CHAIN_MESSAGES)
    )
    for body in bodies:
        try:
            document = json.loads(body)
        except ValueError:  # not JSON, or cut at the log's size limit
            continue
        tenant_id = document.get("tenantId") if isinstance(document, dict) else None
        if isinstance(tenant_id, str) and TENANT_ID_FORM.fullmatch(tenant_id):
            return tenant_id
    return None


def request_fingerprint(request: Any) -> str:
    """SHA-256 of the request's meaningful fields: a repeat has the same one, a different request under the same
    refId another."""
    canonical = json.dumps(dataclasses.asdict(request), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _check_biller(biller_id: str, terms: ProtocolTerms) -> None:
    if terms.biller_id and biller_id.strip() != terms.biller_id:
        raise NotThisBiller(f"billerId {biller_id!r} is not this biller ({terms.biller_id}); nothing was queued.")


def _find_customer(session: Session, params: Sequence[tuple[str, str]], terms: ProtocolTerms) -> CustomerBills:
    # customerParams names match ignoring case and spaces: NPCI registers names such as "Loan Account Number".
    try:
        identifiers = resolve_identifiers(params, terms.customer_params, limit=MAX_CUSTOMER_PARAMS, ignore_spaces=True)
    except IdentifiersRefused as refused:
        raise InsufficientIdentifiers(CUSTOMER_PARAMS_REFUSALS[refused.problem].format(refused=refused)) from None
    return fetch_customer_bills(session=session, identifiers=identifiers)


def _pay(
    session: Session,
    request: BillPaymentRequest,
    terms: ProtocolTerms,
    tenant_id: str | None,
    offered: Mapping[str, Any],
    now: dt.datetime,
) -> tuple[dict[str, Any], int | None]:
    def refuse(refusal: Refusal, description: str) -> tuple[dict[str, Any], None]:
        body = m.failure(ref_id=request.ref_id, tenant_id=tenant_id, refusal=refusal, description=description)
        return body, None

    if request.is_reversal:
        return refuse(Refusal.REVERSAL_NOT_ACCEPTED, "Reversals are not taken here; a failed payment is notified")
    try:
        found = _find_customer(session, request.customer_params, terms)
    except DomainError as exc:
        return _refused(request.ref_id, tenant_id, exc), None
    offered_bill = offered.get("billNumber") if offered.get("status") == m.SUCCESSFUL else None
    if offered_bill and request.bill_number and request.bill_number != offered_bill:
        return refuse(
            Refusal.BILL_NOT_FOUND, f"billNumber {request.bill_number} is not the bill offered for this refId"
        )
    bill_number = offered_bill or request.bill_number
    if bill_number is None:
        if not found.bills:
            return _no_bill_due(request.ref_id, tenant_id), None
        bill_number = m.earliest_due(found.bills).partner_bill_id
    owner = session.scalar(sa.select(Bill.customer_id).where(Bill.partner_bill_id == bill_number))
    if owner != found.customer.id:
        # Unknown, or another customer's: never pay a bill the customer's params do not lead to.
        return refuse(Refusal.BILL_NOT_FOUND, f"No bill {bill_number} for this customer")
    twin = _payment_by_txn_reference(session, request.txn_reference_id)
    if twin is not None and twin.partner_txn_ref != request.ref_id:
        return _duplicate(request, tenant_id, twin)
    try:
        recorded = record_payment(
            session=session,
            request=PaymentRequest(
                channel=Channel.DIGILEDGE,
                partner_txn_ref=request.ref_id,
                customer_txn_ref=request.txn_reference_id,
                partner_bill_id=bill_number,
                amount_paise=request.amount_paise,
                declared_bill_amount_paise=request.declared_bill_amount_paise,
            ),
            confirm_with=terms.confirm_with,
            now=now,
            max_due_multiple=terms.max_due_multiple,
        )
    except TransactionConflict:
        raise  # a twin with this refId won the race; _answer_once answers from its delivery
    except DomainError as exc:
        return _refused(request.ref_id, tenant_id, exc), None
    except IntegrityError:
        # The txnReferenceId was committed meanwhile under another refId (the unique key caught it).
        twin = _payment_by_txn_reference(session, request.txn_reference_id)
        if twin is None:
            raise
        return _duplicate(request, tenant_id, twin)
    body = m.bill_payment_success(
        ref_id=request.ref_id, tenant_id=tenant_id, receipt_number=recorded.receipt.receipt_number
    )
    return body, recorded.payment.id


def _duplicate(request: BillPaymentRequest, tenant_id: str | None, twin: Payment) -> tuple[dict[str, Any], None]:
    body = m.failure(
        ref_id=request.ref_id,
        tenant_id=tenant_id,
        refusal=Refusal.DUPLICATE_TRANSACTION,
        description=f"txnReferenceId {request.txn_reference_id} was already paid under refId {twin.partner_txn_ref}",
    )
    return body, None


def _payment_by_txn_reference(session: Session, txn_reference_id: str) -> Payment | None:
    return session.scalars(
        sa.select(Payment)
        .where(Payment.channel == Channel.DIGILEDGE, Payment.customer_txn_ref == txn_reference_id)
        .execution_options(populate_existing=True)
    ).one_or_none()


_REFUSALS: list[tuple[type[DomainError], Refusal]] = [
    (CustomerNotFound, Refusal.CUSTOMER_NOT_FOUND),
    (InsufficientIdentifiers, Refusal.CUSTOMER_PARAMS_NOT_ACCEPTED),
    (BillNotFound, Refusal.BILL_NOT_FOUND),
    (BillAlreadyFulfilled, Refusal.BILL_ALREADY_PAID),
    (BillCancelled, Refusal.BILL_CANCELLED),
    (AmountNotAllowed, Refusal.AMOUNT_NOT_ALLOWED),
]


def _refused(ref_id: str, tenant_id: str | None, exc: DomainError, **fields: Any) -> dict[str, Any]:
    refusal = next((refusal for kind, refusal in _REFUSALS if isinstance(exc, kind)), None)
    if refusal is None:
        raise exc  # not a refusal this protocol has a code for: let the channel answer it
    return m.failure(ref_id=ref_id, tenant_id=tenant_id, refusal=refusal, description=exc.message, **fields)


def _no_bill_due(ref_id: str, tenant_id: str | None, **fields: Any) -> dict[str, Any]:
    return m.failure(
        ref_id=ref_id, tenant_id=tenant_id, refusal=Refusal.NO_BILL_DUE, description="No bill is due", **fields
    )


def _dedupe_key(operation: str, ref_key: str) -> str:
    return f"{RECEIVER}:{operation}:{ref_key}"


def _queued(session: Session, key: str) -> Job | None:
    return session.scalars(
        sa.select(Job).where(Job.dedupe_key == key).execution_options(populate_existing=True)
    ).one_or_none()


def _queued_body(session: Session, key: str) -> dict[str, Any]:
    job = _queued(session, key)
    return dict(job.payload.get("body") or {}) if job is not None else {}


def _answer_once(
    session: Session,
    operation: str,
    ref_key: str,
    request: Any,
    build: Callable[[], tuple[dict[str, Any], int | None]],
    now: dt.datetime,
) -> Acknowledged:
    """Build the response and queue it under the refId's dedupe key, unless this refId was answered already."""
    key = _dedupe_key(operation, ref_key)
    fingerprint = request_fingerprint(request)
    queued = _queued(session, key)
    if queued is not None:
        return _repeat_of(queued, fingerprint, operation)
    ack = ACKS[operation]
    try:
        # One savepoint for the payment (if any) and its delivery: if a twin's delivery is committed first, both
        # go, so no payment is ever left without the response that announces it.
        with session.begin_nested():
            body, payment_id = build()
            job = enqueue_delivery(
                session=session,
                kind=JobKind.DELIVER_RESPONSE,
                receiver=RECEIVER,
                operation=operation,
                body=body,
                now=now,
                dedupe_key=key,
                payment_id=payment_id,
            )
            # Beside the message: what the request looked like and what it was told, for its repeats.
            job.payload = {**job.payload, "request_fingerprint": fingerprint, "ack": dataclasses.asdict(ack)}
            session.flush()
    except (IntegrityError, TransactionConflict):
        queued = _queued(session, key)
        if queued is None:
            raise
        return _repeat_of(queued, fingerprint, operation)
    return Acknowledged(ack, repeated=False)


def _repeat_of(job: Job, fingerprint: str, operation: str) -> Acknowledged:
    if job.payload.get("request_fingerprint") != fingerprint:
        ref_id = job.payload.get("body", {}).get("refId")
        raise RefIdReused(
            f"refId {ref_id} was already answered for a different request; its {operation} stands, nothing was queued."
        )
    return Acknowledged(Ack(**job.payload["ack"]), repeated=True)
