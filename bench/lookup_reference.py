"""Look-up by any reference (the console's "Find"): ``find_reference`` timed per kind of reference on the 1M-bill
database, in-process (no HTTP), with the console's default window of 7 days for partner calls' bodies.

    .venv/bin/python bench/lookup_reference.py [--samples 40] [--no-write]

References are picked from ``biller_bench_serve`` (loaded if missing): customer ids, loan account numbers,
mobiles, partner transaction ids, receipt numbers and UTRs (where a payment carries one), and references found
nowhere (the only ones for which every partner call's body in the window is searched). Reports p50 / p95 / max
per kind, with how many partner calls the window holds. Writes "Look-up by any reference" in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

import sqlalchemy as sa
from common import loaded_database, machine, write_section
from sqlalchemy.orm import Session

from biller_server.domain.lookup import find_reference
from biller_server.persistence.types import utcnow

KINDS = {
    "customer id": "SELECT lender_customer_id FROM customers ORDER BY md5(id::text) LIMIT :n",
    "loan account number": "SELECT loan_account_number FROM bills WHERE loan_account_number IS NOT NULL "
    "ORDER BY md5(id::text) LIMIT :n",
    "mobile": "SELECT mobile FROM customers WHERE mobile IS NOT NULL ORDER BY md5(id::text) LIMIT :n",
    "transaction (partner_txn_ref)": "SELECT partner_txn_ref FROM payments ORDER BY md5(id::text) LIMIT :n",
    "receipt number": "SELECT receipt_number FROM receipts ORDER BY md5(id::text) LIMIT :n",
    "UTR": "SELECT settlement_ref FROM payments WHERE settlement_ref IS NOT NULL ORDER BY md5(id::text) LIMIT :n",
}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--samples", type=int, default=40, help="references per kind")
    parser.add_argument("--no-write", action="store_true")
    arguments = parser.parse_args()
    url, _ = loaded_database(200_000, 5, fresh=False)
    header = machine()
    engine = sa.create_engine(url)
    since = utcnow() - dt.timedelta(days=7)
    with engine.connect() as connection:
        references = {
            kind: list(connection.scalars(sa.text(sql), {"n": arguments.samples})) for kind, sql in KINDS.items()
        }
        references["found nowhere"] = [f"NOWHERE{n:06d}" for n in range(arguments.samples)]
        window = connection.scalar(
            sa.text("SELECT count(*) FROM inbound_messages WHERE received_at >= :s"), {"s": since}
        )
        sizes = {t: connection.scalar(sa.text(f"SELECT count(*) FROM {t}")) for t in ("bills", "payments")}  # noqa: S608
    rows = []
    with Session(engine) as session:
        for kind, values in references.items():
            if not values:
                rows.append((kind, 0, None, None))
                continue
            find_reference(session=session, reference=values[0], since=since)  # warm: caches, plans
            timings, no_window = [], []
            for value in values:
                for window_start, out in ((since, timings), (utcnow(), no_window)):
                    started = time.perf_counter()
                    find_reference(session=session, reference=value, since=window_start)
                    out.append((time.perf_counter() - started) * 1000)
                    session.expunge_all()
                    session.rollback()
            rows.append((kind, len(timings), timings, no_window))
            print(f"  {kind}: p50 {statistics.median(timings):.1f} ms, p95 {percentile(timings, 0.95):.1f} ms, "
                  f"max {max(timings):.1f} ms", flush=True)  # fmt: skip
    engine.dispose()
    lines = [
        "`bench/lookup_reference.py`: `find_reference` (the console's Find) in-process on the serving benchmark's "
        f"database ({sizes['bills']:,} bills, {sizes['payments']:,} payments; {window:,} partner calls logged in "
        "the 7-day window, whose bodies are searched when the books do not carry the reference), references "
        "picked at random per kind.",
        "",
        f"Measured {header}.",
        "",
        "| reference | samples | p50 | p95 | max | p95 without the body search (an empty window) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, count, timings, no_window in rows:
        if not timings:
            lines.append(f"| {kind} | 0 | n/a (none in this database) | | | |")
            continue
        lines.append(f"| {kind} | {count} | {statistics.median(timings):.1f} ms | {percentile(timings, 0.95):.1f} ms "
                     f"| {max(timings):.1f} ms | {percentile(no_window, 0.95):.1f} ms |")  # fmt: skip
    section = "\n".join(lines)
    print("\n" + section)
    if not arguments.no_write:
        write_section("Look-up by any reference", section)


if __name__ == "__main__":
    main()
