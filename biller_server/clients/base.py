"""What every partner client shares: the canonical outcome, the payment context it is asked about, the result it
gives, and the two ways a call can fail (retry later, or stop because the request itself is wrong).

The confirmation engine only ever sees these types, so it does not care which partner it talks to.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

# The canonical outcome is the domain's; every client reports in it (and imports it from here, with the rest).
from biller_server.domain.outcomes import Outcome


@dataclass(frozen=True)
class PaymentContext:
    """A snapshot of the payment a partner is asked about, taken when the job is claimed (no database needed)."""

    payment_id: int
    channel: str
    partner_txn_ref: str
    amount_paise: int
    paid_at: dt.datetime
    partner_bill_id: str
    partner_bill_ref: str | None = None  # the partner's id for the bill (Kaleidofin's systemBillId)
    customer_txn_ref: str | None = None
    lender_customer_id: str | None = None
    # Partner-specific values kept in the job's payload (Setu's payment context, Cashfree's reference ids).
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusResult:
    """One answer from a partner: the canonical outcome plus the partner's own words for it."""

    outcome: Outcome
    raw_status: str | None
    reason: str | None = None
    reason_codes: list[dict[str, Any]] = field(default_factory=list)
    receipt: str | None = None


@dataclass
class CallRecord:
    """One HTTP exchange with a partner, already redacted, ready to be stored as an ``OutboundCall``."""

    partner: str
    operation: str
    method: str
    url: str
    request_body: str | None
    response_status: int | None = None
    response_body: str | None = None
    latency_ms: float | None = None
    error: str | None = None


class PartnerError(Exception):
    """A call that gave no usable answer."""


class PartnerUnavailable(PartnerError):
    """Timeout, refused connection, 5xx, malformed JSON, rejected credentials: the same request may work later."""


class PartnerRejectedRequest(PartnerError):
    """The partner says the request itself is wrong (a 4xx about its content): repeating it cannot help."""


class PartnerNotConfigured(PartnerError):
    """The client for this partner lacks a setting; the message names the variable."""


class PartnerRequestNotSent(PartnerError):
    """The call stopped before any byte left for the partner (a missing setting or id): the partner cannot have
    seen it. Raised only from checks made before the request is sent, never once sending may have begun, so a
    call that moves money may safely be made again later. Often combined with one of the errors above."""


class PartnerClient(Protocol):
    """The interface the engine uses. Real clients and the fakes used by tests both implement it."""

    name: str

    def check_payment(self, context: PaymentContext, *, calls: list[CallRecord]) -> StatusResult:
        """Ask the partner what became of the payment; append each HTTP exchange to ``calls``."""
        ...

    def close(self) -> None: ...
