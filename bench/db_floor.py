"""The database's floor: what PostgreSQL alone, driven by pgbench (C, prepared statements), can do of the work
that one fetchBills and one fetchReceipt send it, on this machine.

    .venv/bin/python bench/db_floor.py [--clients 8 32] [--duration 15] [--no-write]

No Python, no HTTP, no framework: the machine CPU each transaction costs here is a lower bound on what the same
request costs through the server, on top of what the server spends on HTTP alone (GET /healthz in
bench/serve_load.py). Together the two say how far the throughput ratios of issue 9 can go on this machine at
all. The statements are in bench/sql/, traced from the server. Uses ``biller_bench_serve`` (loaded if missing);
rows written by the receipt script are deleted afterwards. Writes "Serving: the database's floor" in
bench/RESULTS.md (``--no-write`` to only print it).
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from common import DATA, ROOT, loaded_database, machine, machine_busy_seconds, write_section

SQL = ROOT / "bench" / "sql"
SCRIPTS = {
    "fetch_bills": "POST /bills/fetchBills: the customer and payable bills, then the inbound log row (autocommit)",
    "fetch_bills_select_only": "the same SELECT alone, not logged (for comparison: the log row is required)",
    "fetch_receipt": "POST /bills/fetchReceipt: a new payment and its receipt (6 statements), COMMIT",
    "notification": "POST /digiledge/payment-notification: 80 % confirm a payment (8 statements), 20 % name no payment "
    "(5 statements)",
}
# A request whose work has more than one shape is a mix of scripts, weighted as bench/serve_load.py sends it (pgbench
# ``-f SCRIPT@WEIGHT`` picks one per transaction): its notifications name no payment 20 % of the time.
MIXES = {"notification": {"notification_confirmed": 80, "notification_unknown": 20}}
# The payments notification_confirmed.sql confirms: made before its run, deleted after with the rest.
FLOOR_PAYMENTS = 50_000


@dataclass
class FloorRun:
    script: str
    clients: int
    transactions: int
    tps: float
    latency_ms: float
    machine_cpu: float  # cores busy on average (2.00 = both)
    pgbench_cpu: float  # of which pgbench itself (the client: the server's driver takes its place)

    @property
    def cpu_ms_per_transaction(self) -> float:
        return self.machine_cpu * 1000 / self.tps

    @property
    def server_cpu_ms_per_transaction(self) -> float:
        """The machine's CPU per transaction without pgbench's own: PostgreSQL's cost."""
        return (self.machine_cpu - self.pgbench_cpu) * 1000 / self.tps


def script_path(script: str) -> Path:
    """bench/sql/SCRIPT.sql; ``fetch_bills_select_only`` is made from fetch_bills.sql (its \\set and its SELECT)."""
    if script != "fetch_bills_select_only":
        return SQL / f"{script}.sql"
    text = (SQL / "fetch_bills.sql").read_text(encoding="utf-8")
    setting = next(line for line in text.splitlines() if line.startswith("\\set "))
    select = text[text.index("SELECT customers") :]
    path = DATA / "db_floor" / f"{script}.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{setting}\n{select[: select.index(';') + 1]}\n", encoding="utf-8")
    return path


def statements(script: str) -> float:
    """Statements one transaction of the script sends (a mix: their weighted average). A statement is a line that
    ends with ';' or holds pgbench's ``\\gset``, outside the comments: BEGIN and COMMIT count."""
    mix = MIXES.get(script, {script: 1})
    total = 0.0
    for name, weight in mix.items():
        lines = [line.strip() for line in script_path(name).read_text(encoding="utf-8").splitlines()]
        count = sum(1 for line in lines if not line.startswith("--") and (line.endswith(";") or "\\gset" in line))
        total += count * weight
    return total / sum(mix.values())


def make_floor_payments(url: str) -> None:
    """The RECEIVED Digiledge payments notification_confirmed.sql confirms (DBFLOORN1, ...), on bills 1, 2, ...
    (the bills' ids run from 1 up, as fetch_receipt.sql assumes); those left from an interrupted run are kept."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO payments (bill_id, channel, partner_txn_ref, amount_paise, paid_at, status, "
                "applied_to_bill, flagged, created_at, updated_at) "
                "SELECT 1 + (g - 1) % (SELECT max(id) FROM bills), 'digiledge', 'DBFLOORN' || g, 100000, now(), "
                "'RECEIVED', true, false, now(), now() FROM generate_series(1, :count) AS g "
                "ON CONFLICT DO NOTHING"
            ),
            {"count": FLOOR_PAYMENTS},
        )
    engine.dispose()


def pgbench(url: str, script: str, clients: int, seconds: float) -> FloorRun:
    parsed = sa.make_url(url)
    if script == "notification":
        make_floor_payments(url)
    files = [
        argument
        for name, weight in MIXES.get(script, {script: 1}).items()
        for argument in ("-f", f"{script_path(name)}@{weight}")
    ]
    command = [
        "pgbench", "-n", "-M", "prepared", *files, "-c", str(clients), "-j", "2",
        "-T", str(int(seconds)), "-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432),
        "-U", parsed.username or "postgres", parsed.database or "",
    ]  # fmt: skip
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before, started = machine_busy_seconds(), time.monotonic()
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    busy, elapsed = machine_busy_seconds() - busy_before, time.monotonic() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    pgbench_seconds = (children.ru_utime - children_before.ru_utime) + (children.ru_stime - children_before.ru_stime)

    def number(pattern: str) -> float:
        found = re.search(pattern, output)
        if found is None:
            raise RuntimeError(f"pgbench printed no {pattern!r}:\n{output}")
        return float(found.group(1))

    return FloorRun(
        script=script,
        clients=clients,
        transactions=int(number(r"number of transactions actually processed: (\d+)")),
        tps=number(r"tps = ([\d.]+)"),
        latency_ms=number(r"latency average = ([\d.]+) ms"),
        machine_cpu=busy / elapsed,
        pgbench_cpu=pgbench_seconds / elapsed,
    )


def driver_cpu_us_per_statement(url: str, statements: int = 20_000) -> float:
    """The Python side of one round trip: CPU of this process per prepared ``SELECT 1`` through psycopg, the driver
    the server uses (SQLAlchemy adds its own cost on top, not counted here)."""
    import psycopg

    parsed = sa.make_url(url)
    with psycopg.connect(
        host=parsed.host or "127.0.0.1", port=parsed.port or 5432, user=parsed.username, dbname=parsed.database,
        autocommit=True,
    ) as connection:  # fmt: skip
        cursor = connection.cursor()
        for _ in range(100):
            cursor.execute("SELECT 1", prepare=True)
        started = time.process_time()
        for _ in range(statements):
            cursor.execute("SELECT 1", prepare=True)
            cursor.fetchone()
        return (time.process_time() - started) * 1e6 / statements


def delete_floor_rows(url: str) -> int:
    """Take out what the scripts wrote (they only ever write rows marked DBFLOOR or request id db-floor) and the
    payments made for notification_confirmed.sql."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        # Nothing but these rows points at the floor's payments (the notifications naming them go first), so the
        # foreign-key triggers are skipped for this transaction: payment_notifications has no index on
        # payment_id (nothing looks a notification up by payment), and checking it once per deleted payment would
        # scan it 100,000 times.
        connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
        connection.execute(sa.text("DELETE FROM payment_notifications WHERE ref_id LIKE 'DBFLOOR%'"))
        floor_payments = "SELECT id FROM payments WHERE partner_txn_ref LIKE 'DBFLOOR%'"
        for table in ("receipts", "payment_events", "jobs"):
            connection.execute(sa.text(f"DELETE FROM {table} WHERE payment_id IN ({floor_payments})"))  # noqa: S608
        connection.execute(sa.text("DELETE FROM channel_bill_references WHERE partner_bill_ref LIKE 'DBFLOOR%'"))
        deleted = connection.execute(sa.text("DELETE FROM payments WHERE partner_txn_ref LIKE 'DBFLOOR%'")).rowcount
        connection.execute(sa.text("DELETE FROM inbound_messages WHERE request_id = 'db-floor'"))
    engine.dispose()
    return deleted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--no-write", action="store_true")
    arguments = parser.parse_args()

    url, _ = loaded_database(200_000, 5, fresh=False)
    header = machine()
    runs = []
    try:
        for script in SCRIPTS:
            for clients in arguments.clients:
                run = pgbench(url, script, clients, arguments.duration)
                print(f"  {script} c={clients}: {run.tps:,.0f} tps, {run.latency_ms:.2f} ms average, "
                      f"machine {run.machine_cpu:.2f} cores = {run.cpu_ms_per_transaction:.3f} ms per transaction, "
                      f"without pgbench's {run.pgbench_cpu:.2f}: {run.server_cpu_ms_per_transaction:.3f} ms",
                      flush=True)  # fmt: skip
                runs.append(run)
    finally:
        print(f"  deleted {delete_floor_rows(url):,} payments written by the receipt script", flush=True)
    driver_us = driver_cpu_us_per_statement(url)
    print(f"  psycopg: {driver_us:.1f} us of client CPU per prepared statement", flush=True)
    section = render(header, runs, driver_us, arguments)
    print("\n" + section)
    if not arguments.no_write:
        write_section("Serving: the database's floor", section)


def render(header: str, runs: list[FloorRun], driver_us: float, arguments: argparse.Namespace) -> str:
    lines = [
        "`bench/db_floor.py` (see `bench/README.md`): the statements one request sends (`bench/sql/`, traced from the "
        "server) run by pgbench (`-M prepared`, `-j 2`) against the same 1M-bill database: PostgreSQL's own cost and "
        "pgbench's, no Python or HTTP. Its machine CPU per transaction is a lower bound for the database share of a "
        "request through the server.",
        "",
        f"Measured {header}.",
        "",
        "| work | pgbench clients | transactions/s | average latency | machine CPU (2.00 = both cores), of which "
        "pgbench | machine CPU per transaction | without pgbench's (PostgreSQL's) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        lines.append(
            f"| {SCRIPTS[run.script]} | {run.clients} | {run.tps:,.0f} | {run.latency_ms:.2f} ms | "
            f"{run.machine_cpu:.2f}, {run.pgbench_cpu:.2f} | {run.cpu_ms_per_transaction:.3f} ms | "
            f"{run.server_cpu_ms_per_transaction:.3f} ms |"
        )
    lines += [
        "",
        f"Each run {arguments.duration:.0f} s. The Python side of a round trip, for comparison: {driver_us:.1f} us of "
        "client CPU per prepared `SELECT 1` through psycopg alone (the server's driver, without SQLAlchemy), one "
        "connection, 20,000 statements.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
