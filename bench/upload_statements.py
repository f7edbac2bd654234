"""Where a bill upload's time goes, statement by statement: one upload in this process, every SQL statement of its
staging (``domain/upload/store.py``) timed and summed by its text.

Runs ``biller-server bills upload FILE`` in-process (the CLI, as an operator runs it) on a fresh copy of a
PostgreSQL template database, so that every run starts from the same books. Make the template once, for example
with the 1M-row file loaded and VACUUM ANALYZEd:

    createdb -h 127.0.0.1 -U postgres biller_bench_statements_base
    BILLER_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/biller_bench_statements_base \\
        .venv/bin/biller-server db upgrade
    BILLER_DATABASE_URL=... .venv/bin/biller-server bills upload bench/data/bills-200000x5.csv
    psql -h 127.0.0.1 -U postgres -d biller_bench_statements_base -c "VACUUM ANALYZE"

then time the re-upload (``--explain N`` also prints the plans of the batch statements for the N-th batch):

    .venv/bin/python bench/upload_statements.py bench/data/bills-200000x5-half-changed.csv [--top 25] [--explain 50]

Wall time includes Python's reading and checking; the sums are the time spent inside each statement (for COPY,
the ``load`` calls that feed it). Measure on a quiet machine: another process on the two cores moves every line.
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from common import database_url, recreate_database

BATCH_STATEMENTS = (
    "_LOCK_BATCH_BILLS",
    "_MARK_LATE_CONFLICTS",
    "_DELETE_OLD_MOBILES",
    "_UPDATE_CUSTOMERS",
    "_INSERT_CUSTOMERS",
    "_INSERT_CUSTOMER_IDENTIFIERS",
    "_UPDATE_BILLS",
    "_DELETE_MOVED_LOAN_IDENTIFIERS",
    "_INSERT_BILLS",
    "_INSERT_LOAN_IDENTIFIERS",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("file")
    parser.add_argument("--template", default="biller_bench_statements_base")
    parser.add_argument("--database", default="biller_bench_statements")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--explain", type=int, default=0, metavar="N", help="print the batch plans of batch N")
    arguments = parser.parse_args()
    recreate_database(arguments.database, template=arguments.template)
    os.environ["BILLER_DATABASE_URL"] = database_url(arguments.database)
    os.environ.setdefault("BILLER_LOG_LEVEL", "WARNING")

    from biller_server.cli import cli
    from biller_server.domain.upload import store

    totals: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0])

    def timed(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(self, *args, **kwargs)
            finally:
                text = " ".join(args[0].split())[:100] if args and isinstance(args[0], str) else ""
                total = totals[f"{name}: {text}" if text else name]
                total[0] += time.perf_counter() - started
                total[1] += 1

        return wrapper

    for name in ("_execute", "execute", "_execute_at", "load", "plan", "apply_batch"):
        setattr(store.Staging, name, timed(name, getattr(store.Staging, name)))
    if arguments.explain:
        apply_batch, batches = store.Staging.apply_batch, [0]

        def explained(self: Any, *, first: int, last: int, now: Any) -> Any:
            batches[0] += 1
            if batches[0] == arguments.explain:
                for name in BATCH_STATEMENTS:
                    sql = "EXPLAIN " + getattr(store, name)
                    plan = self._connection().execute(sa.text(sql), {"first": first, "last": last, "now": now})
                    print(f"== {name}", *plan.scalars(), sep="\n")
            return apply_batch(self, first=first, last=last, now=now)

        store.Staging.apply_batch = explained

    started = time.perf_counter()
    try:
        cli.main(["bills", "upload", arguments.file], standalone_mode=False)
    except SystemExit as exit:
        if exit.code:
            sys.exit(exit.code)
    print(f"wall time {time.perf_counter() - started:.1f} s; time inside statements (s, calls, statement):")
    for key, (seconds, calls) in sorted(totals.items(), key=lambda item: -item[1][0])[: arguments.top]:
        print(f"{seconds:7.2f} {int(calls):5d}  {key}")


if __name__ == "__main__":
    main()
