"""CPU and statements per request, in one Python process: the app through Flask's test client, no HTTP server.

What Python costs per request, apart from gunicorn, wrk and the machine's other tenants: ``time.process_time`` over
a sample of requests (this process only; PostgreSQL's work is in its own processes and not counted), and the
statements each request sends (``before_cursor_execute``, plus BEGIN and COMMIT/ROLLBACK). Samples of each
endpoint are interleaved, so a busy moment on a shared machine spreads over all of them. With ``--profile`` one
more sample per endpoint runs under cProfile and its top functions are printed (cumulative time).

    .venv/bin/python bench/inprocess_cpu.py --database biller_bench_inprocess [--requests 300] [--samples 3]
        [--only fetch_receipt] [--profile]

The database (PostgreSQL, on ``BILLER_BENCH_POSTGRES_URL``'s server) is loaded once with 5,000 customers x 4 bills
(``bills upload``), and reused; each receipt pays a distinct open EXACT bill, so a run uses up ``requests x
(samples + profile)`` of them (about 14,000 to start with; ``--fresh`` reloads).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import itertools
import json
import os
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

if "--code" in sys.argv:
    # Before anything imports biller_server (bench/common.py does): the editable install's finder would otherwise
    # find this checkout's package first.
    sys.meta_path[:] = [finder for finder in sys.meta_path if "editable" not in type(finder).__module__]
    sys.path.insert(0, sys.argv[sys.argv.index("--code") + 1])

from common import KALEIDOFIN_KEY, loaded_database, production_env

ENDPOINTS = ("healthz", "fetch_bills", "fetch_receipt")


class Counter:
    """Statements sent through one engine: every cursor execution, and each BEGIN, COMMIT and ROLLBACK that reaches
    the server (none on a connection in autocommit, where each statement commits by itself)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.statements = 0
        sa.event.listen(engine, "before_cursor_execute", self._count)
        for name in ("begin", "commit", "rollback"):
            sa.event.listen(engine, name, self._count_unless_autocommit)

    def _count(self, *_args: Any, **_kwargs: Any) -> None:
        self.statements += 1

    def _count_unless_autocommit(self, connection: sa.Connection) -> None:
        if not getattr(connection.connection.dbapi_connection, "autocommit", False):
            self.statements += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="biller_bench_inprocess")
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--bills-per-customer", type=int, default=4)
    parser.add_argument("--requests", type=int, default=300, help="requests per sample")
    parser.add_argument("--samples", type=int, default=3, help="samples per endpoint, interleaved")
    parser.add_argument("--only", action="append", choices=ENDPOINTS, help="measure only these (repeatable)")
    parser.add_argument("--profile", action="store_true", help="one more sample per endpoint under cProfile")
    parser.add_argument("--top", type=int, default=45, help="functions shown per profile")
    parser.add_argument("--profile-out", metavar="PREFIX", help="also write each profile to PREFIX.ENDPOINT (pstats)")
    parser.add_argument("--fresh", action="store_true", help="load the database anew")
    parser.add_argument(
        "--code",
        help="serve the biller_server package found in this folder instead (an export of another commit, with "
        "config/ and migrations/ copied into its biller_server/), for before/after samples in one sitting",
    )
    arguments = parser.parse_args()
    names = arguments.only or list(ENDPOINTS)

    url, _ = loaded_database(
        arguments.customers, arguments.bills_per_customer, fresh=arguments.fresh, name=arguments.database
    )
    os.environ.update(production_env(url, BILLER_LOG_LEVEL="INFO"))
    import biller_server
    from biller_server.app import create_app

    print(f"code: {Path(biller_server.__file__).parent}", flush=True)
    from biller_server.extensions import DB_KEY

    app = create_app()
    # The access log line is formatted and written as in production (to stderr), here to a file nobody reads.
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
    client = app.test_client()
    counter = Counter(app.extensions[DB_KEY].engine)
    needed = arguments.requests * (arguments.samples + (1 if arguments.profile else 0) + 1)
    requests = {name: _requests(name, url, arguments.customers, needed) for name in names}

    for name in names:  # warm-up: caches, the pool's connections, prepared statements
        _run(client, requests[name], arguments.requests // 3 or 1)
    cpu: dict[str, list[float]] = {name: [] for name in names}
    statements: dict[str, list[float]] = {name: [] for name in names}
    print(f"uptime: {_load()}", flush=True)
    for _sample in range(arguments.samples):
        for name in names:
            before = counter.statements
            seconds = _run(client, requests[name], arguments.requests)
            cpu[name].append(seconds * 1000 / arguments.requests)
            statements[name].append((counter.statements - before) / arguments.requests)
    print(f"uptime: {_load()}", flush=True)
    print("\n| endpoint | CPU ms per request (samples) | median | statements per request |")
    print("| --- | --- | ---: | ---: |")
    for name in names:
        samples = " / ".join(f"{value:.3f}" for value in cpu[name])
        print(
            f"| {name} | {samples} | {statistics.median(cpu[name]):.3f} | {statistics.median(statements[name]):.2f} |"
        )
    if arguments.profile:
        for name in names:
            profile = cProfile.Profile(time.process_time)  # CPU, not waiting for PostgreSQL
            profile.enable()
            _run(client, requests[name], arguments.requests)
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).strip_dirs().sort_stats("cumulative").print_stats(arguments.top)
            if arguments.profile_out:
                profile.dump_stats(f"{arguments.profile_out}.{name}")
            print(f"\n## cProfile: {name}, {arguments.requests} requests\n{out.getvalue()}")


def _run(client: Any, requests: Iterator[Callable[[Any], Any]], count: int) -> float:
    gc.collect()  # a collection the previous sample's garbage owes is not charged to this one
    started = time.process_time()
    for _ in range(count):
        response = next(requests)(client)
        if response.status_code >= 500:
            print(f"{response.status_code}: {response.get_data(as_text=True)}", flush=True)
            raise SystemExit(1)
    return time.process_time() - started


def _requests(name: str, url: str, customers: int, needed: int) -> Any:
    headers = {"X-API-Key": KALEIDOFIN_KEY}
    if name == "healthz":
        return itertools.repeat(lambda client: client.get("/healthz"))
    if name == "fetch_bills":
        rng = random.Random(20261130)

        def fetch(client: Any) -> Any:
            # About 10 % unknown customers, as bench/lua/fetch_bills.lua.
            known = rng.random() >= 0.1
            value = f"CUST{rng.randrange(1, customers + 1):08d}" if known else f"NOSUCH{rng.randrange(10**8):08d}"
            body = [{"identifierKey": "customerId", "identifierValue": value}]
            return client.post("/bills/fetchBills", json=body, headers=headers)

        return itertools.repeat(fetch)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        bills = connection.execute(
            sa.text(
                "SELECT partner_bill_id, amount_paise FROM bills WHERE status = 'OPEN' AND exactness = 'EXACT'"
                " AND paid_paise = 0 ORDER BY md5(partner_bill_id) LIMIT :n"
            ),
            {"n": needed},
        ).all()
    engine.dispose()
    if len(bills) < needed:
        print(f"only {len(bills)} open EXACT bills left for {needed} receipts: run with --fresh", flush=True)
        raise SystemExit(1)
    tag = f"INPROC{int(time.time()) % 10**8:08d}"
    system_bill_base = int(time.time()) * 10**6
    numbers = itertools.count(1)
    payable = iter(bills)

    def receipt(client: Any) -> Any:
        bill_id, paise = next(payable)
        number = next(numbers)
        rupees = f"{paise // 100}.{paise % 100:02d}"
        details = f'{{"billAmount": {rupees}, "amountPaid": {rupees}, "transactionId": "{tag}{number:07d}"}}'
        body = (
            f'{{"systemBillId": {system_bill_base + number}, "partnerBillId": {json.dumps(bill_id)}, '
            f'"paymentDetails": {details}}}'
        )
        return client.post("/bills/fetchReceipt", data=body, headers={**headers, "Content-Type": "application/json"})

    return itertools.repeat(receipt)


def _load() -> str:
    with open("/proc/loadavg", encoding="ascii") as file:
        return " ".join(file.read().split()[:3])


if __name__ == "__main__":
    sys.exit(main())
