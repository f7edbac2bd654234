"""Benchmark the API under the production gunicorn configuration: fetchBills, fetchReceipt, Digiledge payment
notifications and GET /healthz (the framework's ceiling), driven by wrk on the same machine.

    .venv/bin/python bench/serve_load.py [--fresh] [--duration 20] [--memory-minutes 5] [--only fetch_bills]

1. The database ``biller_bench_serve``: 200,000 customers and 1,000,000 bills (bench/upload_bills.py's file)
   loaded with ``biller-server bills upload`` (``--fresh``: always a new database; otherwise one already loaded
   is reused, and only bills that are still open are paid).
2. Digiledge payments for the notifications to name, recorded with ``record_payment`` (what the channel does).
3. ``biller-server serve --no-worker --gunicorn-config config/gunicorn.conf.py`` with BILLER_ENV=production.
4. For each endpoint: a saturated run (``wrk -t1 -c 32``), then the connection count whose throughput is closest
   to half of that, and a run there for p50/p95/p99.
5. A mixed run of ``--memory-minutes`` (70 % fetchBills, 20 % fetchReceipt, 10 % notifications) at half the
   fetchBills load, sampling the RSS of every gunicorn worker every 5 s.

Writes the "Serving" section of bench/RESULTS.md (``--no-write`` to only print it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from common import (
    BILLER,
    DATA,
    DIGILEDGE_KEY,
    KALEIDOFIN_KEY,
    ROOT,
    children,
    loaded_database,
    machine,
    machine_busy_seconds,
    production_env,
    rss_mb,
    running,
    tree_cpu_seconds,
    vacuum,
    wait_for_http,
    write_section,
    wrk_report,
)
from db_floor import FloorRun, delete_floor_rows, driver_cpu_us_per_statement, pgbench, statements

LUA = ROOT / "bench" / "lua"
WORK = DATA / "serve"
GUNICORN_CONFIG = ROOT / "config" / "gunicorn.conf.py"
# The endpoints bench/db_floor.py has a traced script (or a mix of them) for, in bench/sql/.
FLOOR_SCRIPTS = {"fetch_bills": "fetch_bills", "fetch_receipt": "fetch_receipt", "notification": "notification"}


@dataclass
class Floor:
    """What bench/db_floor.py measured in this same run: PostgreSQL's CPU per request's statements (pgbench, its
    own CPU taken out) and the driver's CPU per statement; with /healthz's machine CPU per request, a lower bound on
    what each endpoint can cost this machine."""

    runs: dict[str, FloorRun]
    driver_us: float

    def statements(self, endpoint: str) -> float:
        """Statements the traced script sends (for a mix, on average; bench/db_floor.py's ``statements``)."""
        return statements(FLOOR_SCRIPTS[endpoint])

    def floor_ms(self, endpoint: str, healthz_ms: float) -> float | None:
        if endpoint not in FLOOR_SCRIPTS:
            return None
        database_ms = self.runs[endpoint].server_cpu_ms_per_transaction
        return healthz_ms + database_ms + self.statements(endpoint) * self.driver_us / 1000


@dataclass
class WrkResult:
    connections: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # socket errors and timeouts
    non_2xx: int
    codes: dict[str, int]
    server_cpu: float = 0.0  # CPU seconds per second of run (1.0 = one core), gunicorn processes
    postgres_cpu: float = 0.0
    wrk_cpu: float = 0.0


@dataclass
class Endpoint:
    name: str
    label: str
    script: str
    saturated: WrkResult | None = None  # the best of the saturated runs
    saturated_runs: list[WrkResult] = field(default_factory=list)
    half: WrkResult | None = None
    probes: list[WrkResult] = field(default_factory=list)


class Load:
    """Builds each wrk run's script and the data it reads (bills to pay, refIds to notify), never reusing any."""

    def __init__(self, url: str, customers: int, base_url: str) -> None:
        self.url = url
        self.customers = customers
        self.base_url = base_url
        self.run_tag = dt.datetime.now(dt.UTC).strftime("%d%H%M%S")
        self.runs = 0
        self.bills: list[tuple[str, int]] = []
        self.bill_cursor = 0
        self.refs: list[str] = []
        self.ref_cursor = 0
        self.master = 0

    def prepare(self, receipts_needed: int, notifications_needed: int) -> None:
        engine = sa.create_engine(self.url)
        with engine.connect() as connection:
            # Open EXACT bills nobody has paid: billAmount and amountPaid must be exactly the amount due.
            self.bills = [
                (row[0], row[1])
                for row in connection.execute(
                    sa.text(
                        "SELECT partner_bill_id, amount_paise FROM bills WHERE status = 'OPEN' AND exactness = 'EXACT'"
                        " AND paid_paise = 0 ORDER BY md5(partner_bill_id) LIMIT :n"
                    ),
                    {"n": receipts_needed + notifications_needed},
                )
            ]
            # Digiledge payments of earlier runs that no notification has named yet can be named now.
            self.refs = list(
                connection.scalars(
                    sa.text(
                        "SELECT partner_txn_ref FROM payments p WHERE channel = 'digiledge' AND status = 'RECEIVED' "
                        "AND partner_txn_ref LIKE 'BENCHDL%' AND NOT EXISTS (SELECT 1 FROM payment_notifications n "
                        "WHERE n.ref_id = p.partner_txn_ref) ORDER BY id LIMIT :n"
                    ),
                    {"n": notifications_needed},
                )
            )
        engine.dispose()
        shortfall = notifications_needed - len(self.refs)
        if shortfall > 0:
            self.refs += make_digiledge_payments(self.url, self.bills[receipts_needed:][:shortfall], self.run_tag)
        self.bills = self.bills[:receipts_needed]
        print(f"  {len(self.bills):,} payable EXACT bills for fetchReceipt, {len(self.refs):,} Digiledge refIds",
              flush=True)  # fmt: skip

    def script(self, endpoint: str, connections: int, seconds: float) -> tuple[Path, list[str]]:
        """The Lua script for one wrk run, and its arguments."""
        self.runs += 1
        tag = f"B{self.run_tag}{self.runs:03d}"
        WORK.mkdir(parents=True, exist_ok=True)
        header = f'KEY = "{KALEIDOFIN_KEY if endpoint != "notification" else DIGILEDGE_KEY}"\n'
        # Unique over runs (and below 2^53: Lua numbers are doubles).
        header += f"SYSTEM_BILL_BASE = {((int(time.time()) % 10**6) * 1000 + self.runs) * 10**6}\n"
        report = (LUA / "report.lua").read_text()
        path = WORK / f"{endpoint}.lua"
        seed = str(self.runs)
        if endpoint == "healthz":
            path.write_text(header + report + (LUA / "healthz.lua").read_text())
            return path, []
        if endpoint == "fetch_bills":
            path.write_text(header + report + (LUA / "fetch_bills.lua").read_text())
            return path, [str(self.customers), "10", seed]
        if endpoint == "fetch_receipt":
            path.write_text(header + report + (LUA / "fetch_receipt.lua").read_text())
            return path, [str(self.take_bills(connections, seconds)), tag]
        if endpoint == "notification":
            path.write_text(header + report + (LUA / "notification.lua").read_text())
            return path, [str(self.take_refs(connections, seconds)), tag, "20", seed]
        assert endpoint == "mixed"
        parts = [header.replace(KALEIDOFIN_KEY, KALEIDOFIN_KEY), report]
        for prefix, name in (("fb_", "fetch_bills"), ("fr_", "fetch_receipt"), ("pn_", "notification")):
            text = (LUA / f"{name}.lua").read_text()
            text = text.replace("function init(", f"function {prefix}init(")
            text = text.replace("function request(", f"function {prefix}request(")
            if prefix == "pn_":
                text = text.replace("KEY", "DIGILEDGE_KEY")
            parts.append(f"do\n{text}\nend\n")
        parts.insert(1, f'DIGILEDGE_KEY = "{DIGILEDGE_KEY}"\n')
        path.write_text("".join(parts) + (LUA / "mixed.lua").read_text())
        return path, [
            str(self.customers),
            str(self.take_bills(connections, seconds, share=0.2)),
            str(self.take_refs(connections, seconds, share=0.1)),
            tag,
            seed,
        ]

    def take_bills(self, connections: int, seconds: float, share: float = 1.0) -> Path:
        wanted = int(seconds * 3000 * share) + 1000  # more than any run here can use
        chunk = self.bills[self.bill_cursor : self.bill_cursor + wanted]
        if len(chunk) < wanted:
            print(f"  warning: only {len(chunk)} payable bills left for this run", flush=True)
        path = WORK / "bills.csv"
        path.write_text("".join(f"{bill},{paise // 100}.{paise % 100:02d}\n" for bill, paise in chunk))
        self.pending_bills = len(chunk)
        return path

    def take_refs(self, connections: int, seconds: float, share: float = 1.0) -> Path:
        # When they run out the script starts again from the first: repeats are answered 208 DUPLICATE.
        wanted = int(seconds * 3000 * share) + 1000
        chunk = self.refs[self.ref_cursor : self.ref_cursor + wanted]
        path = WORK / "refs.txt"
        path.write_text("".join(f"{ref}\n" for ref in chunk or ["NONE"]))
        return path

    def consumed(self, endpoint: str, result: WrkResult) -> None:
        # Requests in flight when wrk stopped were generated too: skip past them as well.
        used = result.requests + result.connections
        if endpoint == "fetch_receipt":
            self.bill_cursor += used
        elif endpoint == "notification":
            self.ref_cursor += int(used * 0.8) + result.connections
        elif endpoint == "mixed":
            self.bill_cursor += int(used * 0.2) + result.connections
            self.ref_cursor += int(used * 0.1) + result.connections

    def wrk(self, endpoint: str, connections: int, seconds: float) -> WrkResult:
        script, args = self.script(endpoint, connections, seconds)
        command = ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "30s", "-s", str(script),
                   self.base_url, *(["--", *args] if args else [])]  # fmt: skip
        server_before = tree_cpu_seconds(self.master)
        postgres_before = machine_busy_seconds()
        started = time.perf_counter()
        process = subprocess.run(command, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        server_cpu = (tree_cpu_seconds(self.master) - server_before) / elapsed
        postgres_cpu = (machine_busy_seconds() - postgres_before) / elapsed
        data = wrk_report(process.stdout)
        if process.returncode != 0 or data is None:
            raise RuntimeError(f"wrk failed ({process.returncode}): {process.stdout[-2000:]} {process.stderr[-2000:]}")
        duration = data["duration_us"] / 1e6
        errors = data["connect_errors"] + data["read_errors"] + data["write_errors"] + data["timeouts"]
        result = WrkResult(
            connections=connections,
            seconds=duration,
            requests=data["requests"],
            rps=data["requests"] / duration,
            p50_ms=data["p50_us"] / 1000,
            p95_ms=data["p95_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            max_ms=data["max_us"] / 1000,
            errors=errors,
            non_2xx=data["non_2xx_3xx"],
            codes=data["codes"],
            server_cpu=server_cpu,
            postgres_cpu=postgres_cpu,
            wrk_cpu=0.0,
        )
        self.consumed(endpoint, result)
        print(
            f"    {endpoint} c={connections}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms, p95 "
            f"{result.p95_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, errors {errors}, codes {result.codes}, "
            f"CPU server {server_cpu:.2f} machine {postgres_cpu:.2f}",
            flush=True,
        )
        return result


def make_digiledge_payments(url: str, bills: list[tuple[str, int]], run_tag: str) -> list[str]:
    """Record one Digiledge payment per bill through the domain's ``record_payment`` (what the channel does, with
    its confirmation job); return their refIds."""
    from biller_server.config import load_settings

    from biller_server.domain.payments.recording import PaymentRequest, record_payment
    from biller_server.persistence.database import Database
    from biller_server.persistence.models import Channel
    from biller_server.persistence.types import utcnow

    database = Database()
    database.configure(load_settings(database_url=url), url)
    refs = []
    started = time.perf_counter()
    session = database.new_session()
    try:
        for number, (bill, paise) in enumerate(bills, 1):
            ref = f"BENCHDL{run_tag}{number:07d}"
            record_payment(
                session=session,
                request=PaymentRequest(
                    channel=Channel.DIGILEDGE,
                    partner_txn_ref=ref,
                    partner_bill_id=bill,
                    amount_paise=paise,
                    customer_txn_ref=f"TXN{run_tag}{number:07d}",
                ),
                confirm_with="digiledge",
                now=utcnow(),
            )
            refs.append(ref)
            if number % 500 == 0:
                session.commit()
                session.expunge_all()
        session.commit()
    finally:
        session.close()
        database.dispose()
    print(f"  recorded {len(refs):,} Digiledge payments in {time.perf_counter() - started:.1f} s", flush=True)
    return refs


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gunicorn_workers(master: int) -> list[int]:
    return [pid for pid in children(master) if "gunicorn" in _cmdline(pid) or "biller" in _cmdline(pid)]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def find_master(serve: int) -> int:
    """``biller-server serve`` runs gunicorn's arbiter in its own process: the workers are its children."""
    return serve


def half_load(load: Load, endpoint: Endpoint, seconds: float, saturated_rps: float) -> WrkResult:
    """The closed-loop connection count whose throughput is nearest half the saturated one; then a full run."""
    target = saturated_rps / 2
    best: WrkResult | None = None
    for connections in (1, 2, 3, 4, 6, 8, 12, 16):
        probe = load.wrk(endpoint.name, connections, 5)
        endpoint.probes.append(probe)
        if best is None or abs(probe.rps - target) < abs(best.rps - target):
            best = probe
        if probe.rps >= target:
            break
    assert best is not None
    return load.wrk(endpoint.name, best.connections, seconds)


def memory_run(load: Load, master: int, connections: int, minutes: float) -> dict[int, list[tuple[float, float]]]:
    seconds = minutes * 60
    script, args = load.script("mixed", connections, seconds)
    command = ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "30s", "-s", str(script),
               load.base_url, "--", *args]  # fmt: skip
    samples: dict[int, list[tuple[float, float]]] = {}
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while process.poll() is None:
        now = time.monotonic() - started
        for pid in gunicorn_workers(master):
            value = rss_mb(pid)
            if value is not None:
                samples.setdefault(pid, []).append((now, value))
        time.sleep(5)
    stdout, _ = process.communicate()
    data = wrk_report(stdout) or {}
    load.memory_summary = data  # type: ignore[attr-defined]
    if data:
        load.consumed("mixed", WrkResult(connections, 0, data["requests"], 0, 0, 0, 0, 0, 0, 0, {}))
    return samples


def inbound_rows(url: str, since: dt.datetime) -> dict[str, int]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT path, count(*) FROM inbound_messages WHERE received_at >= :since GROUP BY path"),
            {"since": since},
        ).all()
    engine.dispose()
    return {path: count for path, count in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--bills-per-customer", type=int, default=5)
    parser.add_argument("--fresh", action="store_true", help="load a new database even if one is there")
    parser.add_argument("--duration", type=float, default=20, help="seconds of each measured wrk run")
    parser.add_argument("--saturation-connections", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3, help="saturated runs per endpoint; the best is reported")
    parser.add_argument("--memory-minutes", type=float, default=5)
    parser.add_argument("--only", action="append", choices=["healthz", "fetch_bills", "fetch_receipt", "notification"])
    parser.add_argument("--biller", default=str(BILLER), help="the biller-server command (e.g. another checkout's)")
    parser.add_argument("--gunicorn-config", default=str(GUNICORN_CONFIG), help="to try other settings")
    parser.add_argument("--quick", action="store_true", help="saturated runs only (for profiling); implies --no-write")
    parser.add_argument("--no-write", action="store_true", help="print the section, do not write bench/RESULTS.md")
    parser.add_argument("--no-floor", action="store_true", help="skip bench/db_floor.py's measurement")
    parser.add_argument("--floor-clients", type=int, default=8, help="pgbench clients for the floor")
    parser.add_argument("--floor-duration", type=float, default=15, help="seconds of each pgbench run")
    parser.add_argument("--profile", help="run py-spy on the first gunicorn worker during each saturated run; "
                        "flame graphs go to this folder")  # fmt: skip
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.memory_minutes = 0  # saturated runs only, as --quick says

    header = machine()
    url, load_info = loaded_database(arguments.customers, arguments.bills_per_customer, fresh=arguments.fresh)
    names = arguments.only or ["healthz", "fetch_bills", "fetch_receipt", "notification"]
    port = free_port()
    load = Load(url, arguments.customers, f"http://127.0.0.1:{port}")
    memory_seconds = arguments.memory_minutes * 60
    receipts = "fetch_receipt" in names or memory_seconds > 0
    notifications = "notification" in names or memory_seconds > 0
    wrk_seconds = arguments.duration * (arguments.repeat + 1) + 45  # saturated runs, probes, half load, warm-up
    load.prepare(
        receipts_needed=int(wrk_seconds * 3000 + memory_seconds * 300) + 10_000 if receipts else 0,
        notifications_needed=int(wrk_seconds * 600 + memory_seconds * 30) + 2_000 if notifications else 0,
    )
    vacuum(url)
    shutil.rmtree(DATA / "instance", ignore_errors=True)
    env = production_env(url)
    command = [
        arguments.biller,
        "serve",
        "--no-worker",
        "--gunicorn-config",
        arguments.gunicorn_config,
        "--port",
        str(port),
    ]
    started_at = dt.datetime.now(dt.UTC)
    endpoints = {
        "healthz": Endpoint("healthz", "GET /healthz (no database: the ceiling)", "healthz"),
        "fetch_bills": Endpoint("fetch_bills", "POST /bills/fetchBills (10 % unknown customers)", "fetch_bills"),
        "fetch_receipt": Endpoint("fetch_receipt", "POST /bills/fetchReceipt (a new payment each)", "fetch_receipt"),
        "notification": Endpoint(
            "notification", "POST /digiledge/payment-notification (20 % unknown refIds)", "notification"
        ),
    }
    samples: dict[int, list[tuple[float, float]]] = {}
    memory_connections = 0
    with running(command, env=env, log=WORK / "serve.log") as server:
        wait_for_http(f"{load.base_url}/healthz")
        time.sleep(2)
        master = server.pid
        load.master = master
        workers = gunicorn_workers(master)
        print(f"serving on {load.base_url}: serve/arbiter {master}, workers {workers}", flush=True)
        for name in names:
            endpoint = endpoints[name]
            print(f"  {endpoint.label}", flush=True)
            load.wrk(name, arguments.saturation_connections, 5)  # warm-up: pools, caches, imports
            profiler = None
            if arguments.profile:
                out = Path(arguments.profile) / f"{name}.txt"
                out.parent.mkdir(parents=True, exist_ok=True)
                profiler = subprocess.Popen(
                    [
                        str(ROOT / ".venv/bin/py-spy"),
                        "record",
                        "-o",
                        str(out),
                        "-d",
                        str(int(arguments.duration)),
                        "-r",
                        "200",
                        "--gil",
                        "--format",
                        "raw",
                        "-p",
                        str(gunicorn_workers(master)[0]),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            # Each wrk run connects anew, and the kernel hands the connections to whichever gunicorn worker
            # accepts first; a keep-alive connection then stays with its worker. A run whose connections crowded
            # onto one worker is bound to one core (seen: /healthz at 2,164 and 2,241 req/s with 1.19 of 2 cores
            # busy, and 6,065 in the run between them, spread over all four), so the figure is the best of several
            # runs: what the server does when its workers share the load. Every run is shown.
            endpoint.saturated_runs = [
                load.wrk(name, arguments.saturation_connections, arguments.duration) for _ in range(arguments.repeat)
            ]
            endpoint.saturated = max(endpoint.saturated_runs, key=lambda run: run.rps)
            if profiler is not None:
                profiler.wait()
            if arguments.quick:
                endpoint.half = endpoint.saturated
                continue
            endpoint.half = half_load(load, endpoint, arguments.duration, endpoint.saturated.rps)
        if arguments.memory_minutes > 0:
            reference = endpoints["fetch_bills"].half or endpoints[names[0]].half
            memory_connections = reference.connections if reference else 2
            print(f"  memory: mixed load for {arguments.memory_minutes} min at c={memory_connections}", flush=True)
            samples = memory_run(load, master, memory_connections, arguments.memory_minutes)
        restarts = _restarts(WORK / "serve.log")
    logged = inbound_rows(url, started_at)
    floor = None if arguments.no_floor else measure_floor(url, names, arguments)
    section = render(header, load_info, [endpoints[name] for name in names], samples, memory_connections, load,
                     logged, restarts, arguments, floor)  # fmt: skip
    print()
    print(section)
    if not (arguments.no_write or arguments.quick):
        write_section("Serving", section)
        print("\nwrote the Serving section of bench/RESULTS.md")


def measure_floor(url: str, names: list[str], arguments: argparse.Namespace) -> Floor | None:
    """bench/db_floor.py's pgbench runs, in this run, after the server has stopped (nothing else running)."""
    scripts = [FLOOR_SCRIPTS[name] for name in names if name in FLOOR_SCRIPTS]
    if not scripts:
        return None
    print(f"  the database's floor (bench/db_floor.py, pgbench -c{arguments.floor_clients})", flush=True)
    runs = {}
    try:
        for script in scripts:
            run = pgbench(url, script, arguments.floor_clients, arguments.floor_duration)
            print(f"    {script}: {run.tps:,.0f} tps, PostgreSQL {run.server_cpu_ms_per_transaction:.3f} ms of machine "
                  "CPU per transaction", flush=True)  # fmt: skip
            runs[script] = run
    finally:
        delete_floor_rows(url)
    driver_us = driver_cpu_us_per_statement(url)
    print(f"    psycopg: {driver_us:.1f} us of client CPU per prepared statement", flush=True)
    return Floor(runs, driver_us)


def machine_ms(result: WrkResult) -> float:
    """The machine's CPU per request (every process: server, PostgreSQL, wrk), in milliseconds."""
    return result.postgres_cpu * 1000 / result.rps


def _restarts(log: Path) -> int:
    text = log.read_text(errors="replace") if log.exists() else ""
    return len(re.findall(r"Autorestarting worker|Booting worker", text)) - 0


def render(
    header, load_info, endpoints, samples, memory_connections, load, logged, restarts, arguments, floor=None
) -> str:  # type: ignore[no-untyped-def]
    ceiling = next((e for e in endpoints if e.name == "healthz"), None)
    healthz_ms = machine_ms(ceiling.saturated) if ceiling and ceiling.saturated else None
    lines = [
        "`bench/serve_load.py` (see `bench/README.md`): `biller-server serve --no-worker --gunicorn-config "
        "config/gunicorn.conf.py` with `BILLER_ENV=production`, against 200,000 customers and 1,000,000 bills "
        "loaded with `biller-server bills upload`; wrk (`-t1`, closed loop, keep-alive) on the same machine.",
        "",
        f"Measured {header}.",
        "The load generator, the server and PostgreSQL share the 2 cores: every figure here includes that "
        "contention (the CPU columns show who used what).",
    ]
    if load_info:
        lines.append(f"Database loaded fresh for this run: {load_info['load_seconds']:.0f} s (migrate + upload).")
    lines += [
        "",
        f"Saturated: `wrk -t1 -c{arguments.saturation_connections} -d{arguments.duration:g}s`, {arguments.repeat} "
        "runs, the best reported (every run in brackets: each run's keep-alive connections go to whichever gunicorn "
        "worker accepts first and stay there, and a run whose connections crowd onto one worker is bound to one core; "
        'see "What limits it" below). Half load: the '
        "connection count whose throughput came closest to half the saturated one (5 s probes), then a "
        f"{arguments.duration:g} s run there. CPU: cores used on average during the saturated run by the gunicorn "
        "processes, and by the whole machine (server, PostgreSQL, wrk; 2.00 is every core). Cost: the machine's "
        "CPU per request in the best saturated run (machine cores / req/s). Floor: /healthz's cost + PostgreSQL's CPU "
        "for the request's traced statements (`bench/db_floor.py`, pgbench, measured after the wrk runs of this "
        "same run) + the driver's CPU per statement x the statements; floor / cost is the issue's ratio (1.00 would "
        "be nothing spent beyond HTTP, the database and the driver).",
        "",
        "| endpoint | saturated req/s | vs /healthz | cost | floor | floor / cost | CPU: server / machine "
        "| half load: conns, req/s | p50 | p95 | p99 | errors | answers (saturated + half) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for endpoint in endpoints:
        s, h = endpoint.saturated, endpoint.half
        assert s is not None and h is not None
        ratio = f"{s.rps / ceiling.saturated.rps:.2f}" if ceiling and ceiling.saturated else "n/a"
        codes: dict[str, int] = {}
        for run in (*endpoint.saturated_runs, h):
            for code, count in run.codes.items():
                codes[code] = codes.get(code, 0) + count
        answers = ", ".join(f"{code}: {count:,}" for code, count in sorted(codes.items()))
        runs = " / ".join(f"{run.rps:,.0f}" for run in endpoint.saturated_runs)
        cost = machine_ms(s)
        floor_ms = floor.floor_ms(endpoint.name, healthz_ms) if floor and healthz_ms is not None else None
        if endpoint is ceiling:
            floor_text, floor_ratio = "(itself)", "1.00"
        elif floor_ms is None:
            floor_text, floor_ratio = "n/a", "n/a"
        else:
            floor_text, floor_ratio = f"{floor_ms:.3f} ms", f"{floor_ms / cost:.2f}"
        lines.append(
            f"| {endpoint.label} | {s.rps:,.0f} ({runs}) | {ratio} | {cost:.3f} ms | {floor_text} | {floor_ratio} | "
            f"{s.server_cpu:.2f} / {s.postgres_cpu:.2f} | "
            f"{h.connections}, {h.rps:,.0f} | {h.p50_ms:.1f} ms | {h.p95_ms:.1f} ms | {h.p99_ms:.1f} ms | "
            f"{s.errors + h.errors} | {answers} |"
        )
    if floor:
        lines += [
            "",
            "The floor's parts (this run): /healthz "
            + (f"{healthz_ms:.3f} ms" if healthz_ms is not None else "not measured")
            + "; "
            + "; ".join(
                f"{name}: PostgreSQL {run.server_cpu_ms_per_transaction:.3f} ms per transaction "
                f"(pgbench -c{run.clients}, {run.tps:,.0f} tps, machine {run.machine_cpu:.2f} cores of "
                f"which pgbench {run.pgbench_cpu:.2f}), {floor.statements(name):g} statements"
                for name, run in floor.runs.items()
            )
            + f"; driver {floor.driver_us:.1f} us per statement (psycopg, prepared `SELECT 1`).",
        ]
    lines += ["", "Saturated latency (for reference): " + "; ".join(
        f"{e.name} p50 {e.saturated.p50_ms:.1f} / p99 {e.saturated.p99_ms:.1f} ms" for e in endpoints if e.saturated
    ) + "."]  # fmt: skip
    if logged:
        lines += ["", "Inbound log rows written during the run, by path (every partner call is logged): " + ", ".join(
            f"`{path}` {count:,}" for path, count in sorted(logged.items())) + "."]  # fmt: skip
    if samples:
        summary = getattr(load, "memory_summary", {}) or {}
        lines += [
            "",
            f"Memory: {arguments.memory_minutes:g} minutes of mixed load (70 % fetchBills, 20 % fetchReceipt, 10 % "
            f"notifications) at c={memory_connections}: {summary.get('requests', 0):,} requests "
            f"({summary.get('requests', 0) / max(arguments.memory_minutes * 60, 1):,.0f} req/s), p99 "
            f"{summary.get('p99_us', 0) / 1000:.1f} ms, errors "
            f"{sum(summary.get(k, 0) for k in ('connect_errors', 'read_errors', 'write_errors', 'timeouts'))}; RSS of "
            f"each gunicorn worker sampled every 5 s from /proc (worker starts/restarts in the server log: "
            f"{restarts}).",
            "",
            "| worker pid | samples | first | after 1 min | last | peak | seen for |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for pid, values in sorted(samples.items()):
            after_minute = next((v for t, v in values if t >= values[0][0] + 60), values[-1][1])
            lines.append(
                f"| {pid} | {len(values)} | {values[0][1]:.1f} MB | {after_minute:.1f} MB | {values[-1][1]:.1f} MB | "
                f"{max(v for _, v in values):.1f} MB | {values[-1][0] - values[0][0]:.0f} s |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
