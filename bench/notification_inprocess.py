"""One Digiledge payment notification in-process: the statements it sends, its CPU, and where the CPU goes.

    .venv/bin/python bench/notification_inprocess.py [--database NAME] [--customers 4000] [--samples 3]
        [--per-sample 300] [--trace] [--profile OUT.prof]

Through Flask's test client (no HTTP server, no wrk), on a PostgreSQL database of ``--customers`` x 5 bills loaded
with ``biller-server bills upload`` and one Digiledge payment per notification recorded with ``record_payment``
(what bench/serve_load.py does). The notifications are serve_load's (bench/lua/notification.lua): "Successful"
for a RECEIVED payment, each refId once, and 20 % for refIds nobody knows. The app is the production one
(``BILLER_ENV=production``, bench/common.py's environment, logging at WARNING).

Prints the statements per notification (``before_cursor_execute``, plus BEGIN and COMMIT), ``--trace``: every
statement one known and one unknown notification send (how bench/sql/notification.sql was made), and the CPU of
this process per notification (``time.process_time``) in ``--samples`` samples; ``--profile``: cProfile of one
more sample. The database is made once and reused (``--fresh`` to make it again); drop it by hand when done.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import random
import subprocess
import time
from collections import Counter

import sqlalchemy as sa
from common import DATA, DIGILEDGE_KEY, database_exists, database_url, production_env, recreate_database
from serve_load import make_digiledge_payments
from upload_bills import generate

BODY = (
    '{{"refId": "{ref}", "status": "Successful", "reason": "", "ack": {{"api": "PAYMENT_RESPONSE", "refId": "{ref}", '
    '"msgId": "M{tag}{sent:08d}", "rspCd": "000", "ts": "2026-11-23T10:15:00+05:30", "errorMessages": []}}}}'
)


def prepare(name: str, customers: int, fresh: bool) -> str:
    """The database, migrated and loaded with ``customers`` x 5 bills (reused when it is there)."""
    from common import BILLER

    url = database_url(name)
    if fresh or not database_exists(name):
        path = DATA / f"bills-{customers}x5.csv"
        if not path.exists():
            generate(path, customers, 5)
        recreate_database(name)
        env = {**os.environ, "BILLER_DATABASE_URL": url, "BILLER_LOG_LEVEL": "WARNING"}
        subprocess.run([str(BILLER), "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run([str(BILLER), "bills", "upload", str(path)], env=env, check=True, capture_output=True)
    return url


def payable_bills(url: str, count: int) -> list[tuple[str, int]]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT partner_bill_id, amount_paise FROM bills WHERE status = 'OPEN' AND exactness = 'EXACT' "
                "AND paid_paise = 0 ORDER BY md5(partner_bill_id) LIMIT :n"
            ),
            {"n": count},
        ).all()
    engine.dispose()
    return [(row[0], row[1]) for row in rows]


class Statements:
    """Counts (and, when asked, keeps) what the app's engine sends."""

    def __init__(self, engine: sa.Engine) -> None:
        self.count = 0
        self.kept: list[tuple[str, object]] | None = None
        sa.event.listen(engine, "before_cursor_execute", self._statement)
        sa.event.listen(engine, "begin", lambda _connection: self._note("BEGIN"))
        sa.event.listen(engine, "commit", lambda _connection: self._note("COMMIT"))
        sa.event.listen(engine, "rollback", lambda _connection: self._note("ROLLBACK"))

    def _statement(self, _conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        self._note(statement, parameters)

    def _note(self, statement: str, parameters: object = None) -> None:
        self.count += 1
        if self.kept is not None:
            self.kept.append((statement, parameters))


def _callgrind(switch: str) -> None:
    """Turn callgrind's instrumentation of this process on or off (callgrind_control, valgrind's own tool)."""
    subprocess.run(["callgrind_control", switch, str(os.getpid())], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database", default="biller_bench_notification")
    parser.add_argument("--customers", type=int, default=4000)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--per-sample", type=int, default=300)
    parser.add_argument("--unknown-percent", type=int, default=20)
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--profile")
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="under `valgrind --tool=callgrind --instr-atstart=no`: instrument the samples only (instructions per "
        "notification, which a busy machine does not change)",
    )
    arguments = parser.parse_args()

    url = prepare(arguments.database, arguments.customers, arguments.fresh)
    samples = arguments.samples + (1 if arguments.profile else 0)
    needed = samples * arguments.per_sample + 10
    tag = f"{int(time.time()) % 10**8:08d}"
    refs = make_digiledge_payments(url, payable_bills(url, needed), tag)
    if len(refs) < needed:
        raise SystemExit(f"only {len(refs)} payable bills left: run with --fresh")

    os.environ.update(production_env(url, BILLER_LOG_LEVEL="WARNING"))
    from biller_server.app import create_app
    from biller_server.extensions import get_db

    app = create_app()
    with app.app_context():
        statements = Statements(get_db().engine)
    client = app.test_client()
    headers = {"Content-Type": "application/json", "X-API-Key": DIGILEDGE_KEY}
    chooser = random.Random(1)
    sent = 0
    answers: Counter[str] = Counter()

    def notify(ref: str) -> None:
        nonlocal sent
        sent += 1
        response = client.post(
            "/digiledge/payment-notification", data=BODY.format(ref=ref, tag=tag, sent=sent), headers=headers
        )
        answers[f"{response.status_code} {response.json['status']}"] += 1

    def next_ref() -> str:
        if chooser.randrange(100) < arguments.unknown_percent:
            return f"UNKNOWN{tag}{sent:08d}"
        return refs.pop()

    for _ in range(10):  # warm-up: imports, the pool, compiled statements
        notify(next_ref())
    if arguments.trace:
        for label, ref in (("known refId (confirmed)", refs.pop()), ("unknown refId", f"UNKNOWN{tag}T")):
            statements.kept = []
            notify(ref)
            print(f"--- {label}: {len(statements.kept)} statements")
            for statement, parameters in statements.kept:
                print(f"{' '.join(statement.split())}\n    {parameters!r}")
            statements.kept = None

    print(f"{time.strftime('%H:%M:%S')} UTC, load average {os.getloadavg()[0]:.2f}", flush=True)
    for number in range(samples):
        # CPU time, not wall time: waiting for PostgreSQL is not this process's cost.
        profiler = cProfile.Profile(time.process_time) if arguments.profile and number == samples - 1 else None
        before = statements.count
        started = time.process_time()
        if profiler:
            profiler.enable()
        if arguments.callgrind:
            _callgrind("--instr=on")
        for _ in range(arguments.per_sample):
            notify(next_ref())
        if arguments.callgrind:
            _callgrind("--instr=off")
        if profiler:
            profiler.disable()
            profiler.dump_stats(arguments.profile)
        cpu_ms = (time.process_time() - started) * 1000 / arguments.per_sample
        per = (statements.count - before) / arguments.per_sample
        label = "profiled" if profiler else "sample"
        print(f"  {label} {number + 1}: {cpu_ms:.3f} ms CPU per notification, {per:.2f} statements per notification "
              f"(BEGIN and COMMIT included)", flush=True)  # fmt: skip
    print(f"  answers: {dict(answers)}; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
