"""Three-way reconciliation: our payments, the partners' settlement lines, the bank's credits.

A settlement line is matched to a bank credit by its UTR (the entry's UTR, or the UTR written in its narration)
wherever the bank dated it; failing that, by partner, date and amount: a credit on the line's day or the next
whose amount is the line's to the paisa and whose narration names the partner. A credit is used once.

What does not match is a *break*, with a key that stays the same from one run to the next (a person acknowledges
it by that key with ``settlements ack``; it stays in the report until then):

- ``settled_not_in_bank:<partner>:<utr>``: a partner says it sent money the bank has not shown.
- ``in_bank_unknown:<entry id>``: a credit no settlement line explains.
- ``amount_differs:<partner>:<utr>``: the bank's credit under the line's UTR is another amount.
- ``amount_differs:item:<id>``: the partner says a payment was of another amount than ours.
- ``unknown_payment:item:<id>``: a settlement line names a payment we do not have.
- ``settled_not_confirmed:payment:<id>``: a partner settled a payment our books do not count as CONFIRMED.
- ``never_settled:payment:<id>``: confirmed more than N days ago, and no partner has settled it.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.errors import DomainError
from biller_server.domain.india import IST
from biller_server.domain.reports.daily import india_day_bounds
from biller_server.domain.staff.audit import NO_ORIGIN, AuditOrigin, record_audit
from biller_server.persistence.chunks import in_chunks
from biller_server.persistence.models import (
    BankEntry,
    Channel,
    Payment,
    PaymentStatus,
    ReconciliationAck,
    SettlementItem,
    SettlementLine,
    SettlementState,
)

# How far apart a line's settlement day and the bank's value date may be: a transfer sent late in the evening is
# credited the next working day (a weekend in between: three days).
BANK_DAYS_LATE = 3
_FALLBACK_DAYS_LATE = 1  # matching without a UTR is stricter: the same day or the next


class BreakKind(enum.StrEnum):
    SETTLED_NOT_IN_BANK = "settled_not_in_bank"
    IN_BANK_UNKNOWN = "in_bank_unknown"
    AMOUNT_DIFFERS = "amount_differs"
    UNKNOWN_PAYMENT = "unknown_payment"
    SETTLED_NOT_CONFIRMED = "settled_not_confirmed"
    NEVER_SETTLED = "never_settled"


@dataclass(frozen=True)
class Match:
    partner: str
    settlement_ref: str
    settled_on: dt.date
    amount_paise: int
    payments: int
    bank_entry_id: int
    bank_date: dt.date
    matched_by: str  # "utr" or "partner+date+amount"


@dataclass(frozen=True)
class Break:
    key: str
    kind: BreakKind
    day: dt.date
    partner: str | None
    reference: str | None  # a UTR, a payment's reference, a bank narration
    expected_paise: int | None  # what our side (the books, the partner) says
    received_paise: int | None  # what the other side shows
    detail: str
    acked_by: str | None = None
    ack_note: str | None = None

    @property
    def difference_paise(self) -> int | None:
        if self.expected_paise is None or self.received_paise is None:
            return None
        return self.received_paise - self.expected_paise

    @property
    def unreconciled_paise(self) -> int:
        """The money this break leaves unexplained."""
        difference = self.difference_paise
        if difference is not None:
            return abs(difference)
        return self.expected_paise if self.expected_paise is not None else (self.received_paise or 0)


@dataclass
class SettlementReport:
    day: dt.date
    matches: list[Match] = field(default_factory=list)
    breaks: list[Break] = field(default_factory=list)  # open: not acknowledged
    acknowledged: list[Break] = field(default_factory=list)

    @property
    def matched_paise(self) -> int:
        return sum(match.amount_paise for match in self.matches)

    def summary(self) -> list[tuple[str, int, int]]:
        """(what, count, paise): matched, each kind of open break, acknowledged; the report's first table."""
        kinds: dict[str, list[Break]] = {}
        for item in self.breaks:
            kinds.setdefault(item.kind.value, []).append(item)
        return [
            ("matched", len(self.matches), self.matched_paise),
            *(
                (kind, len(items), sum(item.unreconciled_paise for item in items))
                for kind, items in sorted(kinds.items())
            ),
            ("acknowledged", len(self.acknowledged), sum(item.unreconciled_paise for item in self.acknowledged)),
        ]


# The settlement report as one CSV table (the console's download): a row per match and per break, amounts in paise.
SETTLEMENT_CSV_HEADER = (
    "day",
    "section",
    "key",
    "kind",
    "partner",
    "reference",
    "expected_paise",
    "received_paise",
    "difference_paise",
    "bank_date",
    "matched_by",
    "payments",
    "detail",
    "acknowledged_by",
    "note",
)


def settlement_csv_rows(report: SettlementReport) -> Iterator[tuple[object, ...]]:
    """The report's rows under ``SETTLEMENT_CSV_HEADER``: matched, open breaks, acknowledged breaks."""
    day = report.day.isoformat()
    for match in report.matches:
        yield (
            day, "matched", "", "", match.partner, match.settlement_ref, match.amount_paise, match.amount_paise, 0,
            match.bank_date.isoformat(), match.matched_by, match.payments, "", "", "",
        )  # fmt: skip
    for section, items in (("break", report.breaks), ("acknowledged", report.acknowledged)):
        for item in items:
            yield (
                day, section, item.key, item.kind.value, item.partner or "", item.reference or "",
                _blank(item.expected_paise), _blank(item.received_paise), _blank(item.difference_paise), "", "", "",
                item.detail, item.acked_by or "", item.ack_note or "",
            )  # fmt: skip


def _blank(value: int | None) -> object:
    return "" if value is None else value


class AckRefused(DomainError):
    code = "ack-refused"


def settlement_report(
    *,
    session: Session,
    day: dt.date,
    never_settled_after_days: int,
    now: dt.datetime,
    include_never_settled: bool = True,
) -> SettlementReport:
    """The reconciliation of one day (India): lines settled that day, credits the bank dated that day, payments
    confirmed ``never_settled_after_days`` before it and still unsettled."""
    late = dt.timedelta(days=BANK_DAYS_LATE)
    lines = _lines_settled_between(session, day - late, day)
    entries = _credits_dated_between(session, day - late, day + late)
    return _report(session, day, lines, entries, never_settled_after_days, include_never_settled)


# What matching reads of a line and of a bank credit: rows, not objects (a week of them is read for /metrics).
_LINE = (
    SettlementLine.id,
    SettlementLine.partner,
    SettlementLine.settlement_ref,
    SettlementLine.settled_on,
    SettlementLine.amount_paise,
)
_CREDIT = (BankEntry.id, BankEntry.value_date, BankEntry.amount_paise, BankEntry.narration, BankEntry.utr)


def _lines_settled_between(session: Session, first: dt.date, last: dt.date) -> list[sa.Row[Any]]:
    query = sa.select(*_LINE).where(SettlementLine.settled_on.between(first, last))
    return list(session.execute(query.order_by(SettlementLine.settled_on, SettlementLine.id)))


def _credits_dated_between(session: Session, first: dt.date, last: dt.date) -> list[sa.Row[Any]]:
    query = sa.select(*_CREDIT).where(BankEntry.credit.is_(True), BankEntry.value_date.between(first, last))
    return list(session.execute(query.order_by(BankEntry.value_date, BankEntry.id)))


def _report(
    session: Session,
    day: dt.date,
    lines: list[sa.Row[Any]],
    entries: list[sa.Row[Any]],
    never_settled_after_days: int,
    include_never_settled: bool,
    with_matches: bool = True,
    naming: _TextIndex | None = None,
) -> SettlementReport:
    """One day's report from the lines settled in the 3 days up to it and the credits dated within 3 days of it
    (each in date order, then id); without its matches when only the breaks are wanted."""
    matched, used = _match(session, lines, entries, naming)
    of_the_day = [line for line in lines if line.settled_on == day]
    # The number of payments shows in a match and in a line the bank never showed: counted for those only.
    counted = [line.id for line in of_the_day if with_matches or line.id not in matched]
    counts = _payments_per_line(session, counted)
    items_by_line = _items_making_breaks(session, [line.id for line in of_the_day])
    breaks: list[Break] = []
    report = SettlementReport(day=day)
    for line in of_the_day:
        entry, how = matched.get(line.id, (None, None))
        items = counts.get(line.id, 0)
        if entry is None:
            breaks.append(
                Break(
                    key=f"{BreakKind.SETTLED_NOT_IN_BANK}:{line.partner}:{line.settlement_ref}",
                    kind=BreakKind.SETTLED_NOT_IN_BANK,
                    day=day,
                    partner=line.partner,
                    reference=line.settlement_ref,
                    expected_paise=line.amount_paise,
                    received_paise=None,
                    detail=f"{line.partner} says it sent this for {items} payment(s); no bank credit shows it",
                )
            )
        elif entry.amount_paise != line.amount_paise:
            breaks.append(
                Break(
                    key=f"{BreakKind.AMOUNT_DIFFERS}:{line.partner}:{line.settlement_ref}",
                    kind=BreakKind.AMOUNT_DIFFERS,
                    day=day,
                    partner=line.partner,
                    reference=line.settlement_ref,
                    expected_paise=line.amount_paise,
                    received_paise=entry.amount_paise,
                    detail=f"the bank credited another amount on {entry.value_date} under this UTR",
                )
            )
        elif with_matches:
            report.matches.append(
                Match(
                    partner=line.partner,
                    settlement_ref=line.settlement_ref,
                    settled_on=line.settled_on,
                    amount_paise=line.amount_paise,
                    payments=items,
                    bank_entry_id=entry.id,
                    bank_date=entry.value_date,
                    matched_by=how or "utr",
                )
            )
        breaks.extend(_item_breaks(line, items_by_line.get(line.id, []), day))
    for entry in entries:
        if entry.value_date == day and entry.id not in used:
            breaks.append(
                Break(
                    key=f"{BreakKind.IN_BANK_UNKNOWN}:{entry.id}",
                    kind=BreakKind.IN_BANK_UNKNOWN,
                    day=day,
                    partner=None,
                    reference=entry.utr or entry.narration[:60],
                    expected_paise=None,
                    received_paise=entry.amount_paise,
                    detail=f"no settlement line explains this credit: {entry.narration[:120]}",
                )
            )
    if include_never_settled:
        breaks.extend(_never_settled(session, day, never_settled_after_days))
    acks = _acks(session, [item.key for item in breaks])
    for item in breaks:
        ack = acks.get(item.key)
        if ack is None:
            report.breaks.append(item)
        else:
            report.acknowledged.append(
                Break(**{**item.__dict__, "acked_by": ack.acked_by, "ack_note": ack.note})  # type: ignore[arg-type]
            )
    return report


@dataclass(frozen=True)
class Unreconciled:
    breaks: int
    paise: int


UNRECONCILED_LOOKBACK_DAYS = 7


def open_breaks_older_than_a_day(
    *, session: Session, today: dt.date, never_settled_after_days: int, now: dt.datetime
) -> list[Break]:
    """Open breaks of the days before yesterday (India), newest day first. Days are looked at up to a week back
    (``UNRECONCILED_LOOKBACK_DAYS``); a break older than that stays in ``report settlement`` for its day. Payments
    never settled count whatever their day."""
    found: list[Break] = []
    newest = today - dt.timedelta(days=2)
    oldest = newest - dt.timedelta(days=UNRECONCILED_LOOKBACK_DAYS - 1)
    late = dt.timedelta(days=BANK_DAYS_LATE)
    # The week's lines and credits read once; each day's report takes its window of them, as its own query would.
    lines = _lines_settled_between(session, oldest - late, newest)
    entries = _credits_dated_between(session, oldest - late, newest + late)
    naming = _TextIndex.of(lines, entries)
    for offset in range(UNRECONCILED_LOOKBACK_DAYS):
        day = newest - dt.timedelta(days=offset)
        report = _report(
            session,
            day,
            [line for line in lines if day - late <= line.settled_on <= day],
            [entry for entry in entries if day - late <= entry.value_date <= day + late],
            never_settled_after_days,
            include_never_settled=offset == 0,
            with_matches=False,
            naming=naming,
        )
        found.extend(report.breaks)
    return found


def unreconciled_older_than_a_day(
    *, session: Session, today: dt.date, never_settled_after_days: int, now: dt.datetime
) -> dict[BreakKind, Unreconciled]:
    """Open breaks older than a day (``open_breaks_older_than_a_day``) by kind, with the money they leave
    unexplained: what ``biller_unreconciled_paise`` shows."""
    counts = dict.fromkeys(BreakKind, 0)
    amounts = dict.fromkeys(BreakKind, 0)
    for item in open_breaks_older_than_a_day(
        session=session, today=today, never_settled_after_days=never_settled_after_days, now=now
    ):
        counts[item.kind] += 1
        amounts[item.kind] += item.unreconciled_paise
    return {kind: Unreconciled(counts[kind], amounts[kind]) for kind in BreakKind}


def ack_break(
    *, session: Session, key: str, note: str, by: str, now: dt.datetime, origin: AuditOrigin = NO_ORIGIN
) -> tuple[bool, str]:
    """Acknowledge a break with a note (idempotent: a second ack changes nothing)."""
    key = key.strip()
    kind = key.partition(":")[0]
    if kind not in {item.value for item in BreakKind} or ":" not in key:
        raise AckRefused(f"{key!r} is not a break's key (e.g. settled_not_in_bank:setu:CMS201022000BLO)")
    note = (note or "").strip()
    if not note:
        raise AckRefused("say why: --note is required")
    existing = session.scalars(sa.select(ReconciliationAck).where(ReconciliationAck.break_key == key)).one_or_none()
    if existing is not None:
        return False, f"{key} was acknowledged by {existing.acked_by}: {existing.note}"
    session.add(ReconciliationAck(break_key=key[:200], note=note[:2000], acked_by=by[:100], acked_at=now))
    record_audit(
        session=session,
        actor=by,
        action="settlement.ack",
        outcome="ok",
        now=now,
        target=key,
        note=note,
        source_address=origin.source_address,
        request_id=origin.request_id,
    )
    session.flush()
    return True, f"{key} acknowledged"


def _match(
    session: Session, lines: list[sa.Row[Any]], entries: list[sa.Row[Any]], naming: _TextIndex | None = None
) -> tuple[dict[int, tuple[sa.Row[Any], str]], set[int]]:
    """Each line's bank credit, and the credits used. Indexed, so a day of thousands of lines and credits costs
    a pass over each rather than one over the credits per line; the result is the plain scans' (the first unused
    credit in statement order that qualifies)."""
    matched: dict[int, tuple[sa.Row[Any], str]] = {}
    used: set[int] = set()
    narrations = [entry.narration.upper() for entry in entries]
    by_utr: dict[str, list[int]] = {}
    for position, entry in enumerate(entries):
        if entry.utr:
            by_utr.setdefault(entry.utr.upper(), []).append(position)
    if naming is None:
        naming = _TextIndex.of(lines, entries)
    position_of = {entry.id: position for position, entry in enumerate(entries)}
    elsewhere: list[sa.Row[Any]] = []
    for line in lines:
        ref = line.settlement_ref.upper()
        named = (position_of[id_] for id_ in naming.containing(ref) if id_ in position_of)
        positions = sorted({*by_utr.get(ref, ()), *named})
        entry = next((entries[p] for p in positions if entries[p].id not in used), None)
        if entry is None:
            elsewhere.append(line)
            continue
        matched[line.id] = (entry, "utr")
        used.add(entry.id)
    # Anywhere in the statement: a credit the bank dated outside the window is still this line's. (Such a credit
    # is never in the window, so looking for them all after the window's matches changes nothing.)
    outside = _credits_by_utr(session, [line.settlement_ref for line in elsewhere])
    for line in elsewhere:
        entry = outside.get(line.settlement_ref)
        if entry is not None and entry.id not in used:
            matched[line.id] = (entry, "utr")
            used.add(entry.id)
    by_amount: dict[int, list[int]] = {}
    for position, entry in enumerate(entries):
        by_amount.setdefault(entry.amount_paise, []).append(position)
    for line in lines:
        if line.id in matched:
            continue
        partner = line.partner.upper()
        latest = line.settled_on + dt.timedelta(days=_FALLBACK_DAYS_LATE)
        entry = next(
            (
                entries[position]
                for position in by_amount.get(line.amount_paise, ())
                if entries[position].id not in used
                and line.settled_on <= entries[position].value_date <= latest
                and partner in narrations[position]
            ),
            None,
        )
        if entry is not None:
            matched[line.id] = (entry, "partner+date+amount")
            used.add(entry.id)
    return matched, used


class _TextIndex:
    """Which credits' narrations contain a reference: the narrations' 8-character pieces that occur in the
    references looked for, each hit checked with ``in``. Exact, like scanning every narration, at the cost of one
    pass over them (made once for a week of reports: ``open_breaks_older_than_a_day``)."""

    SIZE = 8

    def __init__(self, texts: list[str], ids: list[int], references: list[str]) -> None:
        size = self.SIZE
        wanted = {ref[i : i + size] for ref in references for i in range(len(ref) - size + 1)}
        self.texts, self.ids = texts, ids
        self.found: dict[str, list[int]] = {}  # a week's reports look a line's UTR up in each of up to four windows
        self.pieces: dict[str, list[int]] = {}
        for position, text in enumerate(texts):
            for piece in {text[i : i + size] for i in range(len(text) - size + 1)} & wanted:
                self.pieces.setdefault(piece, []).append(position)

    @classmethod
    def of(cls, lines: list[sa.Row[Any]], entries: list[sa.Row[Any]]) -> _TextIndex:
        return cls(
            [entry.narration.upper() for entry in entries],
            [entry.id for entry in entries],
            [line.settlement_ref.upper() for line in lines],
        )

    def containing(self, reference: str) -> list[int]:
        """The ids of the credits whose narration contains ``reference`` (upper case)."""
        if reference not in self.found:
            self.found[reference] = self._containing(reference)
        return self.found[reference]

    def _containing(self, reference: str) -> list[int]:
        size = self.SIZE
        if len(reference) < size:
            return [self.ids[position] for position, text in enumerate(self.texts) if reference in text]
        fewest = min((self.pieces.get(reference[i : i + size], []) for i in range(len(reference) - size + 1)), key=len)
        return [self.ids[position] for position in fewest if reference in self.texts[position]]


def _credits_by_utr(session: Session, utrs: list[str]) -> dict[str, sa.Row[Any]]:
    """The first credit (by id) under each UTR, wherever the bank dated it."""
    found: dict[str, sa.Row[Any]] = {}
    wanted = sorted(set(utrs))
    for chunk in in_chunks(wanted):
        query = sa.select(*_CREDIT).where(BankEntry.credit.is_(True), BankEntry.utr.in_(chunk)).order_by(BankEntry.id)
        for entry in session.execute(query):
            found.setdefault(entry.utr, entry)
    return found


class _Item(NamedTuple):
    """A settlement item that makes a break, with the payment it names (None: none of ours)."""

    id: int
    payment_ref: str
    amount_paise: int | None
    payment_id: int | None
    payment_amount_paise: int | None
    payment_status: PaymentStatus | None


def _payments_per_line(session: Session, line_ids: list[int]) -> dict[int, int]:
    """How many payments each line covers."""
    counts: dict[int, int] = {}
    for chunk in in_chunks(line_ids):
        query = (
            sa.select(SettlementItem.line_id, sa.func.count())
            .where(SettlementItem.line_id.in_(chunk))
            .group_by(SettlementItem.line_id)
        )
        counts.update((line_id, int(count)) for line_id, count in session.execute(query))
    return counts


def _items_making_breaks(session: Session, line_ids: list[int]) -> dict[int, list[_Item]]:
    """The lines' items that make a break (a payment not ours, another amount, a payment not CONFIRMED), with their
    payments, by line: only the breaks come back (a day of 100,000 settled payments has a few thousand).

    Asked by line ids, 500 at a time, rather than by the lines' day: the plan is then an index look-up whatever the
    statistics say, and right after an import they say the tables are as empty as before it (a join by day was
    planned as a nested loop over every pair of items and lines: minutes, past the statement timeout)."""
    found: dict[int, list[_Item]] = {}
    for chunk in in_chunks(line_ids):
        rows = session.execute(
            sa.select(
                SettlementItem.line_id,
                SettlementItem.id,
                SettlementItem.payment_ref,
                SettlementItem.amount_paise,
                Payment.id,
                Payment.amount_paise,
                Payment.status,
            )
            .outerjoin(Payment, Payment.id == SettlementItem.payment_id)
            .where(
                SettlementItem.line_id.in_(chunk),
                sa.or_(
                    Payment.id.is_(None),
                    sa.and_(
                        SettlementItem.amount_paise.is_not(None), SettlementItem.amount_paise != Payment.amount_paise
                    ),
                    Payment.status != PaymentStatus.CONFIRMED,
                ),
            )
            .order_by(SettlementItem.line_id, SettlementItem.id)
        )
        for line_id, *item in rows:
            found.setdefault(line_id, []).append(_Item(*item))
    return found


def _item_breaks(line: sa.Row[Any], items: list[_Item], day: dt.date) -> Iterable[Break]:
    for item in items:
        if item.payment_id is None or item.payment_amount_paise is None or item.payment_status is None:
            yield Break(
                key=f"{BreakKind.UNKNOWN_PAYMENT}:item:{item.id}",
                kind=BreakKind.UNKNOWN_PAYMENT,
                day=day,
                partner=line.partner,
                reference=item.payment_ref,
                expected_paise=None,
                received_paise=item.amount_paise,
                detail=f"settled under {line.settlement_ref}; we have no payment {item.payment_ref}",
            )
            continue
        if item.amount_paise is not None and item.amount_paise != item.payment_amount_paise:
            yield Break(
                key=f"{BreakKind.AMOUNT_DIFFERS}:item:{item.id}",
                kind=BreakKind.AMOUNT_DIFFERS,
                day=day,
                partner=line.partner,
                reference=item.payment_ref,
                expected_paise=item.payment_amount_paise,
                received_paise=item.amount_paise,
                detail=f"payment {item.payment_id}: {line.partner} says another amount was paid",
            )
        if item.payment_status is not PaymentStatus.CONFIRMED:
            yield Break(
                key=f"{BreakKind.SETTLED_NOT_CONFIRMED}:payment:{item.payment_id}",
                kind=BreakKind.SETTLED_NOT_CONFIRMED,
                day=day,
                partner=line.partner,
                reference=item.payment_ref,
                expected_paise=None,
                received_paise=item.amount_paise if item.amount_paise is not None else item.payment_amount_paise,
                detail=f"payment {item.payment_id} is {item.payment_status.value} in our books, yet {line.partner} "
                "settled it",
            )


def _never_settled(session: Session, day: dt.date, after_days: int) -> Iterable[Break]:
    _, cutoff = india_day_bounds(day - dt.timedelta(days=after_days))
    settled = sa.select(SettlementItem.payment_id).where(SettlementItem.payment_id.is_not(None))
    query = (
        sa.select(Payment)
        .where(
            Payment.status == PaymentStatus.CONFIRMED,
            Payment.channel != Channel.OFFLINE,  # money paid at a branch: no partner settles it
            Payment.paid_at < cutoff,
            sa.or_(Payment.settlement_state.is_(None), Payment.settlement_state != SettlementState.SETTLED),
            Payment.id.not_in(settled),
        )
        .order_by(Payment.paid_at, Payment.id)
    )
    for payment in session.scalars(query):
        yield Break(
            key=f"{BreakKind.NEVER_SETTLED}:payment:{payment.id}",
            kind=BreakKind.NEVER_SETTLED,
            day=day,
            partner=payment.channel.value,
            reference=payment.partner_txn_ref,
            expected_paise=payment.amount_paise,
            received_paise=None,
            detail=f"confirmed, paid {payment.paid_at.astimezone(IST).date()}, not settled after {after_days} day(s)"
            + (f" (partner says {payment.settlement_state.value})" if payment.settlement_state else ""),
        )


def _acks(session: Session, keys: list[str]) -> dict[str, ReconciliationAck]:
    found: dict[str, ReconciliationAck] = {}
    for chunk in in_chunks(keys):
        for ack in session.scalars(sa.select(ReconciliationAck).where(ReconciliationAck.break_key.in_(chunk))):
            found[ack.break_key] = ack
    return found
