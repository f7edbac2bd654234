"""The daily report: what came in on one day in India, what became of it, and what the books disagree about.

A day is a calendar day in India time (Asia/Kolkata, UTC+05:30, no daylight saving): 2026-11-02 runs from
2026-11-01T18:30Z to 2026-11-02T18:30Z. A payment belongs to the day of its ``paid_at`` (the partner's payment
time; an offline payment's date). Each payment is counted in the state it is in when the report runs, so a report
for yesterday run today shows today's view of yesterday's payments.

Reconciliation: "confirmed" is what the partners confirmed (payments in state CONFIRMED); "applied" is what the
books count against bills (``applied_to_bill``: the amounts inside the bills' paid figures). For the day

    applied - confirmed = awaiting confirmation (RECEIVED, applied)
                        + unresolved (UNRESOLVED, applied)
                        + failed but still applied (FAILED, applied: never expected)
                        - confirmed but not applied (CONFIRMED, not applied: never expected)

and the report prints every term, so the difference is always explained to the paisa. Beside it: the day's
flagged payments (a partner contradicted their final status) and the partner notifications received that day
that are held for reconciliation (``payment_notifications.needs_reconciliation``: a payment we never saw, or a
contradiction), and the items still open from every day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.india import IST
from biller_server.domain.money import rupees_indian, rupees_text
from biller_server.persistence.models import Channel, Payment, PaymentNotification, PaymentStatus

TIME_ZONE_NAME = "Asia/Kolkata"


@dataclass(frozen=True)
class Tally:
    """A number of payments and their total, in paise."""

    count: int = 0
    amount_paise: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.count + other.count, self.amount_paise + other.amount_paise)

    def __sub__(self, other: Tally) -> Tally:
        return Tally(self.count - other.count, self.amount_paise - other.amount_paise)

    def as_json(self) -> dict[str, Any]:
        return {"count": self.count, "amount": rupees_text(self.amount_paise), "amount_paise": self.amount_paise}


@dataclass(frozen=True)
class ChannelDay:
    """One channel's payments of the day, by the state they are in now."""

    channel: str
    received: Tally = Tally()  # every payment of the day, whatever its state
    confirmed: Tally = Tally()
    failed: Tally = Tally()
    pending: Tally = Tally()  # RECEIVED: still waiting for the partner's confirmation
    unresolved: Tally = Tally()

    def __add__(self, other: ChannelDay) -> ChannelDay:
        return ChannelDay(
            channel="total",
            received=self.received + other.received,
            confirmed=self.confirmed + other.confirmed,
            failed=self.failed + other.failed,
            pending=self.pending + other.pending,
            unresolved=self.unresolved + other.unresolved,
        )


@dataclass(frozen=True)
class FlaggedPayment:
    payment_id: int
    channel: str
    partner_txn_ref: str
    status: str
    amount_paise: int
    reason: str | None


@dataclass(frozen=True)
class HeldNotification:
    notification_id: int
    channel: str
    ref_id: str
    reported_status: str
    outcome: str
    payment_id: int | None
    received_at: dt.datetime


@dataclass(frozen=True)
class Reconciliation:
    confirmed: Tally
    applied: Tally
    awaiting_confirmation: Tally  # RECEIVED and applied
    unresolved_applied: Tally
    failed_still_applied: Tally
    confirmed_not_applied: Tally
    flagged: Tally
    flagged_payments: list[FlaggedPayment] = field(default_factory=list)
    held_notifications: list[HeldNotification] = field(default_factory=list)

    @property
    def difference(self) -> Tally:
        """Applied minus confirmed: what the books count that the partners have not confirmed."""
        return self.applied - self.confirmed


@dataclass(frozen=True)
class OpenItems:
    """What still needs a person, from every day (not only the report's)."""

    unresolved: Tally
    flagged: Tally
    held_notifications: int


@dataclass(frozen=True)
class DailyReport:
    day: dt.date
    starts_at: dt.datetime
    ends_at: dt.datetime
    generated_at: dt.datetime
    channels: list[ChannelDay]
    total: ChannelDay
    reconciliation: Reconciliation
    open_items: OpenItems


def india_day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants at which ``day`` starts and ends in India (end exclusive)."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=IST).astimezone(dt.UTC)
    return start, start + dt.timedelta(days=1)


def daily_report(*, session: Session, day: dt.date, now: dt.datetime) -> DailyReport:
    starts_at, ends_at = india_day_bounds(day)
    of_the_day = (Payment.paid_at >= starts_at, Payment.paid_at < ends_at)
    rows = session.execute(
        sa.select(
            Payment.channel,
            Payment.status,
            Payment.applied_to_bill,
            Payment.flagged,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(Payment.amount_paise), 0),
        )
        .where(*of_the_day)
        .group_by(Payment.channel, Payment.status, Payment.applied_to_bill, Payment.flagged)
    ).all()

    by_channel: dict[str, dict[str, Tally]] = {c.value: {} for c in Channel}
    applied = confirmed_not_applied = failed_still_applied = awaiting = unresolved_applied = flagged = Tally()
    for channel, status, is_applied, is_flagged, count, amount in rows:
        tally = Tally(int(count), int(amount))
        states = by_channel[channel.value]
        states[status.value] = states.get(status.value, Tally()) + tally
        if is_flagged:
            flagged += tally
        if is_applied:
            applied += tally
            if status is PaymentStatus.FAILED:
                failed_still_applied += tally
            elif status is PaymentStatus.RECEIVED:
                awaiting += tally
            elif status is PaymentStatus.UNRESOLVED:
                unresolved_applied += tally
        elif status is PaymentStatus.CONFIRMED:
            confirmed_not_applied += tally

    channels = [_channel_day(name, states) for name, states in by_channel.items()]
    total = ChannelDay(channel="total")
    for channel_day in channels:
        total = total + channel_day

    flagged_payments = [
        FlaggedPayment(p.id, p.channel.value, p.partner_txn_ref, p.status.value, p.amount_paise, p.flag_reason)
        for p in session.scalars(sa.select(Payment).where(*of_the_day, Payment.flagged.is_(True)).order_by(Payment.id))
    ]
    held = [
        HeldNotification(n.id, n.channel.value, n.ref_id, n.reported_status, n.outcome, n.payment_id, n.received_at)
        for n in session.scalars(
            sa.select(PaymentNotification)
            .where(
                PaymentNotification.needs_reconciliation.is_(True),
                PaymentNotification.received_at >= starts_at,
                PaymentNotification.received_at < ends_at,
            )
            .order_by(PaymentNotification.id)
        )
    ]
    reconciliation = Reconciliation(
        confirmed=total.confirmed,
        applied=applied,
        awaiting_confirmation=awaiting,
        unresolved_applied=unresolved_applied,
        failed_still_applied=failed_still_applied,
        confirmed_not_applied=confirmed_not_applied,
        flagged=flagged,
        flagged_payments=flagged_payments,
        held_notifications=held,
    )
    return DailyReport(
        day=day,
        starts_at=starts_at,
        ends_at=ends_at,
        generated_at=now,
        channels=channels,
        total=total,
        reconciliation=reconciliation,
        open_items=_open_items(session),
    )


def _channel_day(channel: str, states: dict[str, Tally]) -> ChannelDay:
    received = Tally()
    for tally in states.values():
        received += tally
    return ChannelDay(
        channel=channel,
        received=received,
        confirmed=states.get(PaymentStatus.CONFIRMED.value, Tally()),
        failed=states.get(PaymentStatus.FAILED.value, Tally()),
        pending=states.get(PaymentStatus.RECEIVED.value, Tally()),
        unresolved=states.get(PaymentStatus.UNRESOLVED.value, Tally()),
    )


def _open_items(session: Session) -> OpenItems:
    def tally(*where: Any) -> Tally:
        count, amount = session.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Payment.amount_paise), 0)).where(*where)
        ).one()
        return Tally(int(count), int(amount))

    held = session.scalar(
        sa.select(sa.func.count())
        .select_from(PaymentNotification)
        .where(PaymentNotification.needs_reconciliation.is_(True))
    )
    return OpenItems(
        unresolved=tally(Payment.status == PaymentStatus.UNRESOLVED),
        flagged=tally(Payment.flagged.is_(True)),
        held_notifications=int(held or 0),
    )


# Rendering -------------------------------------------------------------------------------------------------------

STATE_COLUMNS = ("received", "confirmed", "failed", "pending", "unresolved")


def report_json(report: DailyReport) -> dict[str, Any]:
    rec = report.reconciliation
    return {
        "day": report.day.isoformat(),
        "time_zone": TIME_ZONE_NAME,
        "from": report.starts_at.isoformat(),
        "to": report.ends_at.isoformat(),
        "generated_at": report.generated_at.isoformat(),
        "channels": {
            day.channel: {state: getattr(day, state).as_json() for state in STATE_COLUMNS}
            for day in [*report.channels, report.total]
        },
        "reconciliation": {
            "confirmed": rec.confirmed.as_json(),
            "applied_to_bills": rec.applied.as_json(),
            "difference": rec.difference.as_json(),
            "awaiting_confirmation": rec.awaiting_confirmation.as_json(),
            "unresolved_applied": rec.unresolved_applied.as_json(),
            "failed_still_applied": rec.failed_still_applied.as_json(),
            "confirmed_not_applied": rec.confirmed_not_applied.as_json(),
            "flagged": rec.flagged.as_json(),
            "flagged_payments": [
                {
                    "payment_id": p.payment_id,
                    "channel": p.channel,
                    "partner_txn_ref": p.partner_txn_ref,
                    "status": p.status,
                    "amount": rupees_text(p.amount_paise),
                    "reason": p.reason,
                }
                for p in rec.flagged_payments
            ],
            "held_notifications": [
                {
                    "notification_id": n.notification_id,
                    "channel": n.channel,
                    "ref_id": n.ref_id,
                    "reported_status": n.reported_status,
                    "outcome": n.outcome,
                    "payment_id": n.payment_id,
                    "received_at": n.received_at.isoformat(),
                }
                for n in rec.held_notifications
            ],
        },
        "open_items_all_days": {
            "unresolved": report.open_items.unresolved.as_json(),
            "flagged": report.open_items.flagged.as_json(),
            "held_notifications": report.open_items.held_notifications,
        },
    }


CSV_HEADER = ("section", "channel", "measure", "count", "amount")


def report_csv_rows(report: DailyReport) -> list[tuple[str, str, str, str, str]]:
    """One figure per row: easy to load into a spreadsheet and to compare day by day."""
    rows: list[tuple[str, str, str, str, str]] = []
    for day in [*report.channels, report.total]:
        for state in STATE_COLUMNS:
            tally = getattr(day, state)
            rows.append(("payments", day.channel, state, str(tally.count), rupees_text(tally.amount_paise)))
    rec = report.reconciliation
    for measure, tally in _reconciliation_lines(rec):
        rows.append(("reconciliation", "total", measure, str(tally.count), rupees_text(tally.amount_paise)))
    rows.append(("reconciliation", "total", "held_notifications", str(len(rec.held_notifications)), ""))
    items = report.open_items
    for measure, tally in (("unresolved", items.unresolved), ("flagged", items.flagged)):
        rows.append(("open_all_days", "total", measure, str(tally.count), rupees_text(tally.amount_paise)))
    rows.append(("open_all_days", "total", "held_notifications", str(items.held_notifications), ""))
    return rows


def _reconciliation_lines(rec: Reconciliation) -> list[tuple[str, Tally]]:
    return [
        ("confirmed", rec.confirmed),
        ("applied_to_bills", rec.applied),
        ("difference", rec.difference),
        ("awaiting_confirmation", rec.awaiting_confirmation),
        ("unresolved_applied", rec.unresolved_applied),
        ("failed_still_applied", rec.failed_still_applied),
        ("confirmed_not_applied", rec.confirmed_not_applied),
        ("flagged", rec.flagged),
    ]


def report_table(report: DailyReport) -> str:
    """The report for people: one line per channel, then the reconciliation and what needs a person."""
    lines = [
        f"Daily report for {report.day.isoformat()}, India time ({TIME_ZONE_NAME}): payments made from "
        f"{_ist(report.starts_at)} to {_ist(report.ends_at)}",
        f"Each payment in its state as of {_ist(report.generated_at)}. Amounts in rupees, grouped the Indian way.",
        "",
    ]
    header = ["channel", *STATE_COLUMNS]
    cells = [header, ["", *([f"{'count':>5} {'amount':>15}"] * len(STATE_COLUMNS))]]
    for day in [*report.channels, report.total]:
        cells.append([day.channel, *(_cell(getattr(day, state)) for state in STATE_COLUMNS)])
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for index, row in enumerate(cells):
        if index == len(cells) - 1:
            lines.append("  ".join("-" * width for width in widths))
        first = row[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join([first, *rest]).rstrip())
    lines.append("  (pending: received, waiting for the partner's confirmation)")

    rec = report.reconciliation
    lines += ["", "Reconciliation: what partners confirmed against what the books apply to bills"]
    labels = {
        "confirmed": "confirmed by partners",
        "applied_to_bills": "applied to bills",
        "difference": "difference (applied - confirmed)",
        "awaiting_confirmation": "  awaiting confirmation (applied)",
        "unresolved_applied": "  unresolved (applied)",
        "failed_still_applied": "  failed but still applied (!)",
        "confirmed_not_applied": "  confirmed but not applied (-) (!)",
        "flagged": "flagged: partner contradicted a final status (!)",
    }
    for measure, tally in _reconciliation_lines(rec):
        lines.append(f"  {labels[measure]:<50}{_cell(tally)}")
    lines.append(f"  {'notifications held for reconciliation (!)':<50}{len(rec.held_notifications):>5}")
    for payment in rec.flagged_payments:
        lines.append(
            f"    flagged payment {payment.payment_id} {payment.channel} {payment.partner_txn_ref} "
            f"{payment.status} {rupees_indian(payment.amount_paise)}: {payment.reason or ''}"
        )
    for note in rec.held_notifications:
        about = f"payment {note.payment_id}" if note.payment_id is not None else "no payment with this refId"
        lines.append(
            f"    held notification {note.notification_id} {note.channel} refId {note.ref_id} "
            f"reported {note.reported_status!r}: {note.outcome} ({about})"
        )

    items = report.open_items
    lines += [
        "",
        "Still open, all days",
        f"  {'unresolved payments':<50}{_cell(items.unresolved)}",
        f"  {'flagged payments':<50}{_cell(items.flagged)}",
        f"  {'notifications held for reconciliation':<50}{items.held_notifications:>5}",
    ]
    return "\n".join(lines)


def _cell(tally: Tally) -> str:
    return f"{tally.count:>5} {rupees_indian(tally.amount_paise):>15}"


def _ist(moment: dt.datetime) -> str:
    return moment.astimezone(IST).strftime("%Y-%m-%d %H:%M IST")
