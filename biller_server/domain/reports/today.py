"""What the operations desk watches through the day: money coming in hour by hour, what waits for a person, and
whether the partners answer our calls.

Hours are India time. A collection is a payment that stands: every payment of the day except the FAILED ones
(those the partner says never moved money), whatever else its state; the counts by state are the daily report's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from biller_server.domain.india import IST
from biller_server.domain.payments.inflight import may_have_landed_text, posts_that_may_have_landed
from biller_server.domain.reports.daily import Tally, india_day_bounds
from biller_server.persistence.models import (
    Channel,
    Job,
    JobState,
    OutboundCall,
    Payment,
    PaymentNotification,
    PaymentStatus,
)

# How far back partner health looks (the same window as the biller_partner_calls_recent gauge).
PARTNER_HEALTH_WINDOW = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class HourlyCollections:
    day: dt.date
    channels: list[str]
    # hour (0-23, India time) -> channel -> tally
    hours: dict[int, dict[str, Tally]]

    def tally(self, hour: int, channel: str) -> Tally:
        return self.hours.get(hour, {}).get(channel, Tally())

    def hour_total(self, hour: int) -> Tally:
        total = Tally()
        for tally in self.hours.get(hour, {}).values():
            total += tally
        return total

    def channel_total(self, channel: str) -> Tally:
        total = Tally()
        for by_channel in self.hours.values():
            total += by_channel.get(channel, Tally())
        return total

    @property
    def total(self) -> Tally:
        total = Tally()
        for hour in self.hours:
            total += self.hour_total(hour)
        return total


def collections_by_hour(*, session: Session, day: dt.date) -> HourlyCollections:
    """The day's collections by India-time hour of payment and by channel."""
    starts_at, ends_at = india_day_bounds(day)
    rows = session.execute(
        sa.select(Payment.channel, Payment.paid_at, Payment.amount_paise).where(
            Payment.paid_at >= starts_at, Payment.paid_at < ends_at, Payment.status != PaymentStatus.FAILED
        )
    )
    hours: dict[int, dict[str, Tally]] = {}
    for channel, paid_at, amount in rows:
        by_channel = hours.setdefault(paid_at.astimezone(IST).hour, {})
        by_channel[channel.value] = by_channel.get(channel.value, Tally()) + Tally(1, amount)
    return HourlyCollections(day=day, channels=[channel.value for channel in Channel], hours=hours)


@dataclass(frozen=True)
class PartnerHealth:
    partner: str
    ok: int = 0
    errors: int = 0  # calls with no usable answer: a timeout, a 5xx, a malformed answer, a refusal
    last_call_at: dt.datetime | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None

    @property
    def failing(self) -> bool:
        """More than half the recent calls got no usable answer (the BillerPartnerFailing alert's rule)."""
        return self.errors > self.ok


def partner_call_counts(*, session: Session, since: dt.datetime) -> dict[str, tuple[int, int]]:
    """Outbound calls made since ``since`` by every worker, per partner: (ok, error)."""
    counts: dict[str, tuple[int, int]] = {}
    rows = session.execute(
        sa.select(OutboundCall.partner, OutboundCall.error.is_(None), sa.func.count())
        .where(OutboundCall.created_at >= since)
        .group_by(OutboundCall.partner, OutboundCall.error.is_(None))
    )
    for partner, ok, count in rows:
        good, bad = counts.get(partner, (0, 0))
        counts[partner] = (good + count, bad) if ok else (good, bad + count)
    return counts


def partner_health(
    *, session: Session, now: dt.datetime, window: dt.timedelta = PARTNER_HEALTH_WINDOW
) -> list[PartnerHealth]:
    """Each partner we called in the window: answered or not, and the last error it gave."""
    found: list[PartnerHealth] = []
    for partner, (ok, errors) in sorted(partner_call_counts(session=session, since=now - window).items()):
        last_call_at = session.scalar(
            sa.select(sa.func.max(OutboundCall.created_at)).where(OutboundCall.partner == partner)
        )
        last_error = session.execute(
            sa.select(OutboundCall.error, OutboundCall.created_at)
            .where(OutboundCall.partner == partner, OutboundCall.error.is_not(None))
            .order_by(OutboundCall.created_at.desc())
            .limit(1)
        ).first()
        found.append(
            PartnerHealth(
                partner=partner,
                ok=ok,
                errors=errors,
                last_call_at=last_call_at,
                last_error=last_error[0] if last_error else None,
                last_error_at=last_error[1] if last_error else None,
            )
        )
    return found


@dataclass(frozen=True)
class NeedsAPerson:
    unresolved: list[Payment] = field(default_factory=list)
    flagged: list[Payment] = field(default_factory=list)
    held_notifications: list[PaymentNotification] = field(default_factory=list)
    stopped_jobs: list[Job] = field(default_factory=list)  # stopped by the partner, or out of schedule
    # Unresolved payments whose money-moving post may have landed: payment id -> the warning's words.
    post_warnings: dict[int, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.unresolved) + len(self.flagged) + len(self.held_notifications) + len(self.stopped_jobs)


def needs_a_person(*, session: Session, limit: int = 100) -> NeedsAPerson:
    """Everything still open from any day that only a person can settle, oldest first."""
    from_books = sa.select(Payment).options(joinedload(Payment.bill)).order_by(Payment.id).limit(limit)
    unresolved = list(session.scalars(from_books.where(Payment.status == PaymentStatus.UNRESOLVED)))
    landed = posts_that_may_have_landed(session=session, payment_ids=[payment.id for payment in unresolved])
    return NeedsAPerson(
        unresolved=unresolved,
        post_warnings={payment_id: may_have_landed_text(at) or "" for payment_id, at in landed.items()},
        flagged=list(session.scalars(from_books.where(Payment.flagged.is_(True)))),
        held_notifications=list(
            session.scalars(
                sa.select(PaymentNotification)
                .where(PaymentNotification.needs_reconciliation.is_(True))
                .order_by(PaymentNotification.id)
                .limit(limit)
            )
        ),
        stopped_jobs=list(
            session.scalars(
                sa.select(Job)
                .where(Job.state.in_((JobState.STOPPED, JobState.UNRESOLVED)))
                .order_by(Job.id)
                .limit(limit)
            )
        ),
    )
