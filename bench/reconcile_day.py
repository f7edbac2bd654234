"""A day of payments reconciled, and its daily report, on the 1M-bill / 200k-customer database (issue 20).

    .venv/bin/python bench/reconcile_day.py [--payments 100000] [--per-line 20] [--fresh] [--profile DIR] [--no-write]

1. ``biller_bench_recon_bills``: the 1M bills of ``bench/data/bills-200000x5.csv`` (``bills upload``), made once
   and kept as a template (``--fresh`` makes it anew).
2. ``biller_bench_recon``: a copy of it (``CREATE DATABASE ... TEMPLATE``) with ``--payments`` payments made on one
   India day (``DAY``) through the domain, as the channels and the worker leave them: ``record_posted_payment``
   (Setu, half), ``record_payment`` (Kaleidofin 30 %, Digiledge 20 %), each with its receipt, event and
   confirmation job; then the worker's outcome for each (``apply_payment_outcome`` or ``mark_payment_unresolved``
   and the job finished): 96 % CONFIRMED, 1 % FAILED, 1 % UNRESOLVED, 2 % still RECEIVED. Reused by the next run
   when it holds that many payments (its settlement tables are emptied first).
3. The files of the next day (``SETTLED_ON``), written under ``bench/data/recon/``: each partner's settlement report
   (Setu's Reports API records in paise; Kaleidofin's own columns with a column map, rupees; Digiledge in our column
   names), ``--per-line`` payments per transfer (UTR), and the lender's HDFC statement. The mix: most lines credited
   under their UTR; 1 % credited another amount; 0.5 % never credited; 1 % credited without a UTR (matched by
   partner, date and amount); 2 % credited a day late; 0.5 % of payments left out of every report and 0.1 %
   references that name no payment; 0.5 % of rows with another amount paid; extra UPI/IMPS credits and bank charges.
4. The operator's commands, each a subprocess under GNU time (wall, peak RSS): the three ``settlements import``,
   ``bank import``, ``report settlement`` (the reconciliation: the sum of these five is the "< 60 s" figure), one
   ``settlements ack``, Setu's report imported again (nothing changes), and ``report daily`` for ``DAY``
   ("< 10 s"). ``--profile DIR`` runs each under cProfile (``DIR/<step>.prof``).

Prints a Markdown section and writes it as "Reconciling a day" in bench/RESULTS.md (unless ``--no-write``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from common import (
    ADMIN_URL,
    BILLER,
    admin_engine,
    bill_count,
    database_exists,
    database_url,
    machine,
    recreate_database,
    vacuum,
    write_section,
)
from upload_bills import DATA, generate

BILLS_DATABASE = "biller_bench_recon_bills"
DATABASE = "biller_bench_recon"
CUSTOMERS, BILLS_PER_CUSTOMER = 200_000, 5
DAY = dt.date(2026, 11, 26)  # the payments' India day
SETTLED_ON = DAY + dt.timedelta(days=1)  # the partners settle the next day
FILES = DATA / "recon"
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
SETU_FEE_PAISE = 472  # BPC 400 + GST 72 per payment, as in Setu's sample report
SEED = 20  # issue 20: the same day, the same files, run after run
DOMAIN_SAMPLE = 400  # payments recorded through the domain; the rest by SQL that leaves the same rows
PARTNER_NAMES = {
    "setu": "SETU TECHNOLOGIES PVT LTD",
    "kaleidofin": "KALEIDOFIN PRIVATE LIMITED",
    "digiledge": "DIGILEDGE FINTECH PVT LTD",
}
KALEIDOFIN_COLUMNS = (
    "payment_ref=Txn Ref\nsettlement_ref=Batch Ref\nsettled_on=Credit Date\namount_paid=Gross Amt\n"
    "settled_amount=Net Amt\n"
)


def env(url: str) -> dict[str, str]:
    return {**os.environ, "BILLER_DATABASE_URL": url, "BILLER_LOG_LEVEL": "WARNING"}


# -- the databases ------------------------------------------------------------------------------------------------


def bills_template(fresh: bool) -> None:
    """The 1M-bill database, loaded once by ``bills upload`` and kept as the template of every day's database."""
    url = database_url(BILLS_DATABASE)
    rows = CUSTOMERS * BILLS_PER_CUSTOMER
    if not fresh and database_exists(BILLS_DATABASE) and bill_count(url) == rows:
        print(f"reusing {BILLS_DATABASE} ({rows:,} bills)", flush=True)
        return
    path = DATA / f"bills-{CUSTOMERS}x{BILLS_PER_CUSTOMER}.csv"
    if not path.exists():
        print(f"generating {path}", flush=True)
        generate(path, CUSTOMERS, BILLS_PER_CUSTOMER)
    recreate_database(BILLS_DATABASE)
    started = time.perf_counter()
    subprocess.run([str(BILLER), "db", "upgrade"], env=env(url), check=True, capture_output=True)
    print(f"uploading {path.name} into {BILLS_DATABASE}", flush=True)
    subprocess.run([str(BILLER), "bills", "upload", str(path)], env=env(url), check=True, capture_output=True)
    vacuum(url)
    print(f"  {rows:,} bills in {time.perf_counter() - started:.0f} s", flush=True)


def day_payments(url: str) -> int:
    start = dt.datetime.combine(DAY, dt.time(), tzinfo=IST)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(
                sa.text("SELECT count(*) FROM payments WHERE paid_at >= :a AND paid_at < :b"),
                {"a": start, "b": start + dt.timedelta(days=1)},
            )
    except sa.exc.SQLAlchemyError:
        return -1
    finally:
        engine.dispose()


def day_database(payments: int, fresh: bool) -> str:
    """``biller_bench_recon`` (``_N`` for another size than 100,000) with ``payments`` payments on DAY; reused when
    it has them, with the reconciliation's tables emptied."""
    name = DATABASE if payments == 100_000 else f"{DATABASE}_{payments}"
    url = database_url(name)
    if not fresh and database_exists(name) and day_payments(url) == payments:
        print(f"reusing {name} ({payments:,} payments on {DAY}); emptying its settlement tables", flush=True)
        undo_reconciliation(url)
        return url
    print(f"{name}: a copy of {BILLS_DATABASE}, then {payments:,} payments on {DAY}", flush=True)
    engine = admin_engine()
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{BILLS_DATABASE}"'))
    engine.dispose()
    record_day(url, payments)
    vacuum(url)
    return url


def undo_reconciliation(url: str) -> None:
    """What the timed commands write, taken away: the next run imports into the same books as the first."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for statement in (
            "DELETE FROM payment_events WHERE kind = 'settled' OR kind LIKE 'settlement\\_%'",
            "UPDATE payments SET settlement_state = NULL, settlement_ref = NULL, settled_on = NULL "
            "WHERE settlement_state IS NOT NULL OR settlement_ref IS NOT NULL",
            "DELETE FROM settlement_items",
            "DELETE FROM settlement_lines",
            "DELETE FROM bank_entries",
            "DELETE FROM reconciliation_acks",
        ):
            connection.execute(sa.text(statement))
    engine.dispose()
    vacuum(url, "payments", "payment_events", "settlement_items", "settlement_lines", "bank_entries")


@dataclass(frozen=True)
class Planned:
    number: int
    channel: str
    ref: str
    bill: str
    amount_paise: int
    paid_at: dt.datetime
    fate: str  # confirmed, failed, unresolved, pending


def plan(url: str, payments: int) -> list[Planned]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        bills = connection.execute(
            sa.text(
                "SELECT partner_bill_id, amount_paise - paid_paise FROM bills WHERE status = 'OPEN' "
                "AND exactness = 'EXACT' ORDER BY md5(partner_bill_id) LIMIT :n"
            ),
            {"n": payments},
        ).all()
    engine.dispose()
    if len(bills) < payments:
        raise SystemExit(f"only {len(bills):,} open EXACT bills for {payments:,} payments")
    rng = random.Random(SEED)
    start = dt.datetime.combine(DAY, dt.time(), tzinfo=IST)
    planned = []
    for number, (bill, due) in enumerate(bills, 1):
        draw = rng.random()
        channel = "setu" if draw < 0.5 else "kaleidofin" if draw < 0.8 else "digiledge"
        draw = rng.random()
        fate = "confirmed" if draw < 0.96 else "failed" if draw < 0.97 else "unresolved" if draw < 0.98 else "pending"
        paid_at = start + dt.timedelta(seconds=86_399 * number // payments)
        prefix = {"setu": "SETU-PAY", "kaleidofin": "KF-TXN", "digiledge": "DLG"}[channel]
        planned.append(Planned(number, channel, f"{prefix}-{number:07d}", bill, due, paid_at.astimezone(dt.UTC), fate))
    return planned


def record_day(url: str, payments: int) -> None:
    """The day's payments: the first ``DOMAIN_SAMPLE`` of each kind through the domain, the rest by SQL written to
    leave the same rows (checked: ``check_same_rows``)."""
    planned = plan(url, payments)
    sample = [item for item in planned if item.number <= DOMAIN_SAMPLE]
    record_through_domain(url, sample)
    started = time.perf_counter()
    record_by_sql(url, [item for item in planned if item.number > DOMAIN_SAMPLE])
    print(f"  {payments - len(sample):,} more payments by SQL in {time.perf_counter() - started:.0f} s", flush=True)
    check_same_rows(url)


def record_through_domain(url: str, planned: list[Planned]) -> None:
    """Payments through the domain, as the channels record them and the worker settles them."""
    from biller_server.config import load_settings

    from biller_server.domain.outcomes import Outcome
    from biller_server.domain.payments.outcomes import apply_payment_outcome, mark_payment_unresolved
    from biller_server.domain.payments.recording import PaymentRequest, record_payment, record_posted_payment
    from biller_server.jobs import queue
    from biller_server.persistence.database import Database
    from biller_server.persistence.models import Channel, Job, JobState, Payment

    database = Database()
    database.configure(load_settings(database_url=url), url)
    started = time.perf_counter()
    session = database.new_session()
    try:
        for item in planned:
            number = item.number
            common = {
                "partner_txn_ref": item.ref,
                "partner_bill_id": item.bill,
                "amount_paise": item.amount_paise,
                "declared_bill_amount_paise": item.amount_paise,
                "paid_at": item.paid_at,
            }
            if item.channel == "setu":
                platform_bill = f"5170026633{number:08d}"
                record_posted_payment(
                    session=session,
                    request=PaymentRequest(
                        channel=Channel.SETU,
                        partner_bill_ref=platform_bill,
                        customer_txn_ref=f"SETU-TXN-{number:07d}",
                        confirmation_payload={
                            "setu_context": {
                                "platformBillID": platform_bill,
                                "uniquePaymentRefID": item.ref,
                                "platformTransactionRefID": f"SETU-TXN-{number:07d}",
                                "refId": item.ref,
                            }
                        },
                        **common,
                    ),
                    adhoc_bill_name="Loan repayment",
                    confirm_with="setu",
                    now=item.paid_at,
                )
            elif item.channel == "kaleidofin":
                record_payment(
                    session=session,
                    request=PaymentRequest(channel=Channel.KALEIDOFIN, partner_bill_ref=f"SB-{number:08d}", **common),
                    confirm_with="kaleidofin",
                    now=item.paid_at,
                )
            else:
                record_payment(
                    session=session,
                    request=PaymentRequest(
                        channel=Channel.DIGILEDGE, customer_txn_ref=f"DLG-TXN-{number:07d}", **common
                    ),
                    confirm_with="digiledge",
                    now=item.paid_at,
                )
            if number % 500 == 0:
                session.commit()
                session.expunge_all()
        session.commit()
        session.expunge_all()
        print(f"  recorded {len(planned):,} payments in {time.perf_counter() - started:.0f} s", flush=True)
        # The worker's answers: one status check per payment, a minute after it was made.
        started = time.perf_counter()
        fates = {item.ref: item for item in planned if item.fate != "pending"}
        refs = list(fates)
        for begin in range(0, len(refs), 500):
            chunk = refs[begin : begin + 500]
            rows = session.execute(
                sa.select(Payment, Job)
                .join(Job, Job.payment_id == Payment.id)
                .where(Payment.partner_txn_ref.in_(chunk))
                .order_by(Payment.id)
                .with_for_update()
            ).all()
            for payment, job in rows:
                item = fates[payment.partner_txn_ref]
                now = item.paid_at + dt.timedelta(minutes=1)
                source = f"{job.partner}:check"
                if item.fate == "unresolved":
                    queue.finish(job, state=JobState.UNRESOLVED, outcome="pending", now=now)
                    mark_payment_unresolved(
                        session=session,
                        payment=payment,
                        source=source,
                        reason=f"no final answer from {job.partner} within a day; last: pending (PENDING)",
                        now=now,
                    )
                    continue
                outcome = Outcome.SUCCEEDED if item.fate == "confirmed" else Outcome.FAILED
                reason = "SUCCESS" if outcome is Outcome.SUCCEEDED else "FAILURE"
                apply_payment_outcome(
                    session=session, payment=payment, outcome=outcome, source=source, reason=reason, now=now
                )
                queue.finish(job, state=JobState.DONE, outcome=outcome.value, now=now)
            session.commit()
            session.expunge_all()
        print(f"  the worker's answers for {len(refs):,} payments in {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        session.close()
        database.dispose()


PLAN_COLUMNS = ("n", "channel", "ref", "customer_ref", "bill_ref", "partner_bill_id", "amount", "paid_at", "fate",
                "payload")  # fmt: skip
BULK_SQL = (
    """INSERT INTO payments (bill_id, channel, partner_txn_ref, customer_txn_ref, partner_bill_ref, amount_paise,
        declared_bill_amount_paise, paid_at, status, status_reason, reason_codes, applied_to_bill, flagged, flag_reason,
        created_at, updated_at)
    SELECT b.id, p.channel, p.ref, p.customer_ref, p.bill_ref, p.amount, p.amount, p.paid_at,
        CASE p.fate WHEN 'confirmed' THEN 'CONFIRMED' WHEN 'failed' THEN 'FAILED' WHEN 'unresolved' THEN 'UNRESOLVED'
            ELSE 'RECEIVED' END,
        CASE p.fate WHEN 'confirmed' THEN 'SUCCESS' WHEN 'failed' THEN 'FAILURE'
            WHEN 'unresolved' THEN 'no final answer from ' || p.channel || ' within a day; last: pending (PENDING)' END,
        NULL, p.fate <> 'failed', false, NULL, p.paid_at, now()
    FROM recon_plan p JOIN bills b ON b.partner_bill_id = p.partner_bill_id ORDER BY p.n""",
    """CREATE TEMP TABLE recon_made AS SELECT pay.id, pay.bill_id, p.* FROM recon_plan p
        JOIN payments pay ON pay.channel = p.channel AND pay.partner_txn_ref = p.ref""",
    "INSERT INTO receipts (payment_id, receipt_number, issued_at) "
    "SELECT id, 'R' || lpad(id::text, 10, '0'), paid_at FROM recon_made ORDER BY id",
    "INSERT INTO channel_bill_references (channel, partner_bill_ref, bill_id, created_at) "
    "SELECT channel, bill_ref, bill_id, now() FROM recon_made WHERE bill_ref IS NOT NULL ORDER BY id",
    # Applied, then (a failure) taken back off: an EXACT bill paid in full is PAID, a failed payment's bill OPEN again.
    """UPDATE bills b SET paid_paise = b.paid_paise + m.amount, updated_at = now(),
        status = CASE WHEN b.paid_paise + m.amount >= b.amount_paise THEN 'PAID' ELSE 'PARTIALLY_PAID' END
    FROM recon_made m WHERE b.id = m.bill_id AND m.fate <> 'failed'""",
    "UPDATE bills b SET status = 'OPEN', updated_at = now() FROM recon_made m WHERE b.id = m.bill_id "
    "AND m.fate = 'failed' AND b.paid_paise = 0",
    """INSERT INTO payment_events (payment_id, occurred_at, kind, from_status, to_status, source, detail)
    SELECT id, paid_at, 'received', NULL, 'RECEIVED', channel,
        jsonb_build_object('amount_paise', amount, 'receipt_number', 'R' || lpad(id::text, 10, '0'))
    FROM recon_made ORDER BY id""",
    """INSERT INTO payment_events (payment_id, occurred_at, kind, from_status, to_status, source, detail)
    SELECT id, paid_at + interval '1 minute', fate, 'RECEIVED', upper(fate), channel || ':check',
        jsonb_build_object('reason', CASE fate WHEN 'confirmed' THEN 'SUCCESS' WHEN 'failed' THEN 'FAILURE'
            ELSE 'no final answer from ' || channel || ' within a day; last: pending (PENDING)' END)
    FROM recon_made WHERE fate <> 'pending' ORDER BY id""",
    """INSERT INTO jobs (kind, partner, payment_id, payload, dedupe_key, state, anchor_at, due_at, attempts,
        lease_owner, lease_expires_at, outcome, last_error, finished_at, created_at, updated_at)
    SELECT 'confirm_payment', channel, id, payload, 'confirm_payment:' || id,
        CASE fate WHEN 'unresolved' THEN 'unresolved' WHEN 'pending' THEN 'pending' ELSE 'done' END,
        paid_at, paid_at + interval '5 seconds', 0, NULL, NULL,
        CASE fate WHEN 'confirmed' THEN 'succeeded' WHEN 'failed' THEN 'failed' WHEN 'unresolved' THEN 'pending' END,
        NULL, CASE WHEN fate <> 'pending' THEN paid_at + interval '1 minute' END, now(), now()
    FROM recon_made ORDER BY id""",
)


def record_by_sql(url: str, planned: list[Planned]) -> None:
    """What ``record_through_domain`` writes, in a few set-based statements (minutes become seconds)."""
    rows = []
    for item in planned:
        number, customer_ref, bill_ref, payload = item.number, None, None, "{}"
        if item.channel == "setu":
            bill_ref, customer_ref = f"5170026633{number:08d}", f"SETU-TXN-{number:07d}"
            context = {"platformBillID": bill_ref, "uniquePaymentRefID": item.ref,
                       "platformTransactionRefID": customer_ref, "refId": item.ref}  # fmt: skip
            payload = json.dumps({"setu_context": context})
        elif item.channel == "kaleidofin":
            bill_ref = f"SB-{number:08d}"
        else:
            customer_ref = f"DLG-TXN-{number:07d}"
        rows.append((number, item.channel, item.ref, customer_ref, bill_ref, item.bill, item.amount_paise,
                     item.paid_at, item.fate, payload))  # fmt: skip
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TEMP TABLE recon_plan (n int, channel text, ref text, customer_ref text, bill_ref text, "
            "partner_bill_id text, amount bigint, paid_at timestamptz, fate text, payload jsonb) ON COMMIT DROP"
        )
        cursor = connection.connection.driver_connection.cursor()
        with cursor.copy(f"COPY recon_plan ({', '.join(PLAN_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        for statement in BULK_SQL:
            connection.exec_driver_sql(statement)
        connection.exec_driver_sql("DROP TABLE recon_made")
    engine.dispose()


SHAPE_SQL = """
SELECT p.*, r.receipt_number, r.issued_at, b.paid_paise AS bill_paid, b.status AS bill_status,
    (SELECT count(*) FROM channel_bill_references c WHERE c.channel = p.channel
        AND c.partner_bill_ref = p.partner_bill_ref AND c.bill_id = p.bill_id) AS bill_refs,
    (SELECT json_agg(json_build_object('kind', e.kind, 'from', e.from_status, 'to', e.to_status, 'source', e.source,
        'after', extract(epoch FROM e.occurred_at - p.paid_at), 'detail', e.detail) ORDER BY e.id)
        FROM payment_events e WHERE e.payment_id = p.id) AS events,
    j.kind AS job_kind, j.partner AS job_partner, j.payload AS job_payload, j.dedupe_key, j.state AS job_state,
    extract(epoch FROM j.anchor_at - p.paid_at) AS job_anchor, extract(epoch FROM j.due_at - p.paid_at) AS job_due,
    j.attempts, j.lease_owner, j.lease_expires_at, j.outcome AS job_outcome, j.last_error,
    extract(epoch FROM j.finished_at - p.paid_at) AS job_finished
FROM payments p JOIN receipts r ON r.payment_id = p.id JOIN bills b ON b.id = p.bill_id
JOIN jobs j ON j.payment_id = p.id
WHERE p.id = :id
"""


def shape(connection: sa.Connection, payment_id: int) -> dict[str, object]:
    """A payment's rows with what differs from one payment to the next (ids, references, amounts, times) put in
    words, so that two payments of one channel and fate have equal shapes."""
    row = dict(connection.execute(sa.text(SHAPE_SQL), {"id": payment_id}).mappings().one())
    ident, amount, paid_at = row.pop("id"), row.pop("amount_paise"), row.pop("paid_at")
    number = int(row["partner_txn_ref"].rsplit("-", 1)[1])

    def words(value: object) -> object:
        if isinstance(value, dict):
            return {key: words(item) for key, item in value.items()}
        if isinstance(value, list):
            return [words(item) for item in value]
        if value == amount:
            return "<amount>"
        if value == f"R{ident:010d}":
            return "<receipt number>"
        if isinstance(value, str) and f"{number:07d}" in value:
            return value.replace(f"{number:08d}", "<n>").replace(f"{number:07d}", "<n>")
        if value == f"confirm_payment:{ident}":
            return "confirm_payment:<payment id>"
        if value == paid_at:
            return "<paid at>"
        return value

    for key in ("bill_id", "updated_at"):  # a bill's id; the clock at which it was written
        row.pop(key)
    return {key: words(value) for key, value in row.items()}


def check_same_rows(url: str) -> None:
    """For each channel and fate, a payment recorded through the domain and one by SQL leave equal rows."""
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        pairs = connection.execute(
            sa.text(
                "SELECT channel, status, min(id) FILTER (WHERE number <= :sample), "
                "max(id) FILTER (WHERE number > :sample) FROM (SELECT *, "
                "substring(partner_txn_ref FROM '[0-9]+$')::int AS number FROM payments) AS p GROUP BY channel, status"
            ),
            {"sample": DOMAIN_SAMPLE},
        ).all()
        for channel, status, by_domain, by_sql in pairs:
            if by_domain is None or by_sql is None:
                continue
            ours, theirs = shape(connection, by_sql), shape(connection, by_domain)
            if ours != theirs:
                differences = {key: (theirs[key], ours.get(key)) for key in theirs if theirs[key] != ours.get(key)}
                raise SystemExit(f"{channel} {status}: SQL's rows differ from the domain's: {differences}")
            print(f"  {channel} {status}: payment {by_sql} (SQL) has the rows of payment {by_domain} (domain)")
    engine.dispose()


# -- the files ----------------------------------------------------------------------------------------------------


@dataclass
class Line:
    partner: str
    utr: str
    rows: list[tuple[str, int, int]]  # (payment ref, amount paid, amount settled) in paise

    @property
    def amount_paise(self) -> int:
        return sum(settled for _, _, settled in self.rows)


def rupees(paise: int) -> str:
    """Rupees the Indian way, as bank exports write them: 10,05,236.34."""
    whole, fraction = divmod(paise, 100)
    text = str(whole)
    if len(text) > 3:
        head, tail = text[:-3], text[-3:]
        groups = []
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        text = ",".join([head, *groups, tail]) if head else ",".join([*groups, tail])
    return f"{text}.{fraction:02d}"


def write_files(url: str, per_line: int) -> dict[str, object]:
    """The partners' reports and the bank statement for SETTLED_ON; what they hold, by kind."""
    engine = sa.create_engine(url)
    start = dt.datetime.combine(DAY, dt.time(), tzinfo=IST)
    with engine.connect() as connection:
        payments = connection.execute(
            sa.text(
                "SELECT channel, partner_txn_ref, amount_paise, status FROM payments "
                "WHERE paid_at >= :a AND paid_at < :b ORDER BY id"
            ),
            {"a": start, "b": start + dt.timedelta(days=1)},
        ).all()
    engine.dispose()
    rng = random.Random(SEED + 1)
    FILES.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = dict.fromkeys(("left_out", "unknown_refs", "amount_paid_differs"), 0)
    lines: list[Line] = []
    by_partner: dict[str, list[tuple[str, int, int]]] = {name: [] for name in PARTNER_NAMES}
    for channel, ref, amount, status in payments:
        if status == "FAILED" or rng.random() < 0.005:
            counts["left_out"] += status != "FAILED"
            continue
        paid = amount
        if rng.random() < 0.005:
            paid += 50
            counts["amount_paid_differs"] += 1
        settled = paid - SETU_FEE_PAISE if channel == "setu" else paid
        by_partner[channel].append((ref, paid, settled))
        if rng.random() < 0.001:
            counts["unknown_refs"] += 1
            by_partner[channel].append((f"{ref}-X", 100_000, 100_000 - (SETU_FEE_PAISE if channel == "setu" else 0)))
    stamp = SETTLED_ON.strftime("%y%m%d")
    for partner, rows in by_partner.items():
        for number, begin in enumerate(range(0, len(rows), per_line), 1):
            utr = {
                "setu": f"CMS{stamp}{number:06d}",
                "kaleidofin": f"N3322{stamp}{number:05d}",
                "digiledge": f"UTIBR5{stamp}{number:07d}",
            }[partner]
            lines.append(Line(partner, utr, rows[begin : begin + per_line]))
    settled_at = dt.datetime.combine(SETTLED_ON, dt.time(10, 54, 30), tzinfo=IST).isoformat()
    with open(FILES / "setu.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["platformBillID", "platformBillStatus", "amountPaid", "paymentDate", "paymentReferenceID",
                         "settlementDate", "settlementUtr", "primaryAccountNumber", "primaryAccountSettlementAmount",
                         "bpcTotal", "gstTotal"])  # fmt: skip
        for line in (line for line in lines if line.partner == "setu"):
            for ref, paid, settled in line.rows:
                writer.writerow(["", "SETTLEMENT_SUCCESSFUL", paid, "", ref, settled_at, line.utr, "XXXXXXXX060510",
                                 settled, 400, 72])  # fmt: skip
    (FILES / "kaleidofin.columns").write_text(KALEIDOFIN_COLUMNS, encoding="utf-8")
    with open(FILES / "kaleidofin.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["Txn Ref", "Batch Ref", "Credit Date", "Gross Amt", "Net Amt", "Remarks"])
        for line in (line for line in lines if line.partner == "kaleidofin"):
            for ref, paid, settled in line.rows:
                writer.writerow([ref, line.utr, SETTLED_ON.strftime("%d-%m-%Y"), rupees(paid), rupees(settled),
                                 "BBPS collection"])  # fmt: skip
    with open(FILES / "digiledge.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["payment_ref", "settlement_ref", "settled_on", "amount_paid", "settled_amount"])
        for line in (line for line in lines if line.partner == "digiledge"):
            for ref, paid, settled in line.rows:
                writer.writerow([ref, line.utr, SETTLED_ON.isoformat(), rupees(paid), rupees(settled)])
    counts.update(write_statement(lines, rng))
    counts["lines"] = len(lines)
    counts["rows"] = sum(len(line.rows) for line in lines)
    return counts


def write_statement(lines: list[Line], rng: random.Random) -> dict[str, int]:
    counts = dict.fromkeys(("credits", "amount_differs", "not_in_bank", "without_utr", "late", "unknown", "debits"), 0)
    entries: list[tuple[dt.date, str, str, int, bool]] = []  # value date, narration, reference, paise, credit
    for line in lines:
        draw = rng.random()
        if draw < 0.005:
            counts["not_in_bank"] += 1
            continue
        amount, day = line.amount_paise, SETTLED_ON
        name = PARTNER_NAMES[line.partner]
        narration, reference = f"NEFT CR-KKBK0000431-{name}-LENDER FINANCE PVT LTD-{line.utr}", line.utr
        if draw < 0.015:
            amount -= 1_000
            counts["amount_differs"] += 1
        elif draw < 0.025:
            narration, reference = f"CMS CREDIT {name} BBPS COLLECTION", ""
            counts["without_utr"] += 1
        elif draw < 0.045:
            day += dt.timedelta(days=1)
            counts["late"] += 1
        entries.append((day, narration, reference, amount, True))
    for number in range(max(len(lines) // 100, 1)):
        rrn = f"{432100000000 + number:012d}"
        narration = (
            f"UPI/{rrn}/LOAN EMI/customer{number}@okaxis/AXIS BANK"
            if number % 2
            else f"IMPS/P2A/{rrn}/CUSTOMER {number}/SBIN0001234/LOAN REPAY"
        )
        entries.append((SETTLED_ON, narration, f"0000{rrn}", 100_000 + number, True))
        counts["unknown"] += 1
    for _ in range(3):
        entries.append((SETTLED_ON, "NEFT CHGS INCL GST 1.80", "", 1_180, False))
        counts["debits"] += 1
    entries.sort(key=lambda entry: entry[0])
    counts["credits"] = sum(1 for entry in entries if entry[4])
    with open(FILES / "hdfc.csv", "w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out)
        writer.writerow(["HDFC BANK Ltd.", "", "", "", "", "", ""])
        writer.writerow(["Statement of account: LENDER FINANCE PVT LTD - XXXXXXXX060510", "", "", "", "", "", ""])
        writer.writerow(["Date", "Narration", "Chq./Ref.No.", "Value Dt", "Withdrawal Amt.", "Deposit Amt.",
                         "Closing Balance"])  # fmt: skip
        balance = 10_00_000_00
        for day, narration, reference, paise, credit in entries:
            balance += paise if credit else -paise
            date = day.strftime("%d/%m/%Y")
            writer.writerow([date, narration, reference, date, "" if credit else rupees(paise),
                             rupees(paise) if credit else "", rupees(balance)])  # fmt: skip
    return counts


# -- the timed commands -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    name: str
    seconds: float
    cpu_seconds: float  # the command's own user + system time (PostgreSQL's work is not in it)
    rss_mb: float
    output: str


def run(name: str, arguments: list[str], url: str, profile: Path | None) -> Step:
    command = [str(BILLER), *arguments]
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "cProfile", "-o", str(profile / f"{name}.prof"), *command]
    timing = FILES / "time.txt"
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-o", str(timing), "-f", "%M %U %S", *command], env=env(url), capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{name} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    rss_kb, user, system = timing.read_text().split()[-3:]
    rss, cpu = int(rss_kb) / 1024, float(user) + float(system)
    print(f"  {name}: {seconds:.2f} s ({cpu:.2f} s CPU), {rss:.0f} MB; load {os.getloadavg()[0]:.1f}", flush=True)
    return Step(name, seconds, cpu, rss, done.stdout)


def metrics_cost(url: str) -> tuple[float, float, int]:
    """What /metrics and the console's Today pay on each load: the open breaks of the 7 days before yesterday, with
    the bench's settled day the newest of them. In-process: (wall seconds, CPU seconds, breaks)."""
    from biller_server.config import load_settings

    from biller_server.domain.settlement import open_breaks_older_than_a_day
    from biller_server.persistence.database import Database

    database = Database()
    database.configure(load_settings(database_url=url), url)
    today = SETTLED_ON + dt.timedelta(days=2)
    now = dt.datetime.combine(today, dt.time(12), tzinfo=IST)
    with database.new_session() as session:
        open_breaks_older_than_a_day(session=session, today=today, never_settled_after_days=3, now=now)  # warm
        session.rollback()
        cpu, started = time.process_time(), time.perf_counter()
        found = open_breaks_older_than_a_day(session=session, today=today, never_settled_after_days=3, now=now)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    database.dispose()
    print(f"  the metrics' open breaks: {wall:.2f} s ({cpu:.2f} s CPU), {len(found):,} breaks", flush=True)
    return wall, cpu, len(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--per-line", type=int, default=20, help="payments per settlement line (transfer)")
    parser.add_argument("--fresh", action="store_true", help="load the bills and record the day anew")
    parser.add_argument("--profile", type=Path, default=None, help="run each command under cProfile into DIR")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md")
    parser.add_argument("--setup-only", action="store_true", help="build the database and the files, time nothing")
    arguments = parser.parse_args()
    print(f"PostgreSQL at {sa.make_url(ADMIN_URL).render_as_string()}", flush=True)
    bills_template(arguments.fresh)
    url = day_database(arguments.payments, arguments.fresh)
    held = write_files(url, arguments.per_line)
    print(f"files: {held}", flush=True)
    if arguments.setup_only:
        return
    header = machine()
    load_before = os.getloadavg()
    day, settled = DAY.isoformat(), SETTLED_ON.isoformat()
    reconcile = [
        run("settlements import (setu)", ["settlements", "import", "--partner", "setu", str(FILES / "setu.csv")],
            url, arguments.profile),
        run("settlements import (kaleidofin)", ["settlements", "import", "--partner", "kaleidofin", "--columns",
            str(FILES / "kaleidofin.columns"), str(FILES / "kaleidofin.csv")], url, arguments.profile),
        run("settlements import (digiledge)", ["settlements", "import", "--partner", "digiledge",
            str(FILES / "digiledge.csv")], url, arguments.profile),
        run("bank import", ["bank", "import", str(FILES / "hdfc.csv")], url, arguments.profile),
        run("report settlement", ["report", "settlement", "--date", settled, "--format", "json"], url,
            arguments.profile),
    ]  # fmt: skip
    report = json.loads(reconcile[-1].output)
    first_break = report["breaks"][0]["key"] if report.get("breaks") else None
    after = []
    if first_break:
        after.append(
            run("settlements ack", ["settlements", "ack", first_break, "--note", "bench", "--by", "bench"], url,
                arguments.profile)
        )  # fmt: skip
    after.append(
        run("settlements import (setu) again", ["settlements", "import", "--partner", "setu", str(FILES / "setu.csv")],
            url, arguments.profile)
    )  # fmt: skip
    daily = run("report daily", ["report", "daily", "--date", day], url, arguments.profile)
    metrics_wall, metrics_cpu, metrics_breaks = metrics_cost(url)
    load_after = os.getloadavg()
    total = sum(step.seconds for step in reconcile)
    startup = min(step.cpu_seconds for step in [*reconcile, *after, daily])
    lines = [
        f"`bench/reconcile_day.py --payments {arguments.payments} --per-line {arguments.per_line}`: "
        f"{arguments.payments:,} payments on {day} (India) on the 1M-bill / 200k-customer database, reconciled against "
        f"the next day's files ({held['rows']:,} settled payments in {held['lines']:,} settlement lines of "
        f"{arguments.per_line}; {held['credits']:,} bank credits). Each command a subprocess, as the operator runs it.",
        "",
        f"Measured {header}; load average (1, 5, 15 min) {' '.join(f'{v:.1f}' for v in load_before)} before the "
        f"commands, {' '.join(f'{v:.1f}' for v in load_after)} after.",
        "",
        "| step | wall | the command's CPU | peak RSS |",
        "| --- | ---: | ---: | ---: |",
    ]
    for step in reconcile:
        lines.append(f"| `{step.name}` | {step.seconds:.1f} s | {step.cpu_seconds:.1f} s | {step.rss_mb:.0f} MB |")
    cpu = sum(step.cpu_seconds for step in reconcile)
    lines.append(f"| **reconciled (the five above; target < 60 s)** | **{total:.1f} s** | {cpu:.1f} s | |")
    for step in after:
        lines.append(f"| `{step.name}` | {step.seconds:.1f} s | {step.cpu_seconds:.1f} s | {step.rss_mb:.0f} MB |")
    lines.append(
        f"| **`report daily` (target < 10 s)** | **{daily.seconds:.1f} s** | {daily.cpu_seconds:.1f} s "
        f"| {daily.rss_mb:.0f} MB |"
    )
    lines.append(
        "| the open breaks /metrics and Today read (7 days, this day the newest; in-process, warm) | "
        f"{metrics_wall:.2f} s | {metrics_cpu:.2f} s ({metrics_breaks:,} breaks) | |"
    )
    kinds = ", ".join(f"{row['what']} {row['count']:,}" for row in report["summary"])
    lines += [
        "",
        f"Each command starts by importing the application: about {startup:.1f} s of CPU (the smallest command's "
        "CPU above), several seconds of wall time when the machine is loaded.",
    ]
    lines += ["", f"`report settlement`'s summary: {kinds}. The files held: {held}."]
    section = "\n".join(lines)
    print("\n" + section)
    if not arguments.no_write:
        write_section("Reconciling a day", section)


if __name__ == "__main__":
    main()
