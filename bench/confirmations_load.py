"""Benchmark the confirmation engine: ``biller-server worker`` processes checking 10,000 due payments with a
partner that answers in 50 ms.

    .venv/bin/python bench/confirmations_load.py [--jobs 10000] [--concurrency 4] [--workers 1 2 4] [--rate 200]
        [--repeat 3]

Uses the database of bench/serve_load.py (``biller_bench_serve``, loaded if missing). It records ``--jobs``
Digiledge payments once (``record_payment``, confirmed by ``digiledge``: each has its ``confirm_payment`` job) and
reuses them: before each run their jobs are made pending again, their payments RECEIVED and their outbound calls
deleted; every other pending job in the database is pushed to 2100 so that it stays out of the way.

1. Throughput: N worker processes (``--concurrency`` threads each) start idle, then every job is made due at
   once; checks/s = jobs / (last job finished - first call started). Each check is one status call to the fake
   partner (bench/fake_partner.py, "Successful" after 50 ms), so every job finishes in one check.
2. Lateness at ``--rate`` checks/s: the jobs fall due one after another, ``rate`` per second; lateness of a
   check = the time its call started (``outbound_calls.created_at``, taken right after the claim commits)
   minus the job's ``due_at``.

Writes the "Confirmation engine" section of bench/RESULTS.md (``--no-write`` to only print it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from common import (
    BILLER,
    DATA,
    ROOT,
    children,
    cpu_seconds,
    loaded_database,
    machine,
    machine_busy_seconds,
    production_env,
    rss_mb,
    running,
    vacuum,
    write_section,
)
from serve_load import free_port, make_digiledge_payments

PREFIX = "BENCHENG"
PARKED = 4_102_444_800  # 2100-01-01: jobs wait there, not due, while the workers start
WORK = DATA / "engine"


@dataclass
class Run:
    workers: int
    concurrency: int
    jobs: int
    seconds: float
    checks_per_second: float
    worker_cpu: float  # cores
    machine_cpu: float
    lateness: list[float] | None = None
    unfinished: int = 0
    worker_cpu_seconds: float = 0.0  # the worker processes' CPU time from the jobs falling due to the last finish

    @property
    def cpu_per_thousand(self) -> float:
        """The worker processes' CPU seconds per 1,000 checks: steadier than checks/s on a shared machine."""
        return self.worker_cpu_seconds / self.jobs * 1000 if self.jobs else 0.0


def engine_payments(url: str, count: int) -> list[int]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        ids = list(connection.scalars(sa.text(
            "SELECT id FROM payments WHERE partner_txn_ref LIKE :p ORDER BY id"), {"p": f"{PREFIX}%"}))  # fmt: skip
        missing = count - len(ids)
        bills = []
        if missing > 0:
            bills = connection.execute(
                sa.text(
                    "SELECT partner_bill_id, amount_paise FROM bills WHERE status = 'OPEN' AND exactness = 'EXACT' "
                    "AND paid_paise = 0 ORDER BY md5(partner_bill_id || 'engine') LIMIT :n"
                ),
                {"n": missing},
            ).all()
    engine.dispose()
    if missing > 0:
        tag = f"{PREFIX}{dt.datetime.now(dt.UTC):%H%M%S}"
        refs = make_digiledge_payments(url, [(b, p) for b, p in bills], tag.removeprefix("BENCHDL"))
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "UPDATE payments SET partner_txn_ref = :prefix || partner_txn_ref WHERE partner_txn_ref = ANY(:r)"
                ),
                {"prefix": PREFIX, "r": refs},
            )
            ids = list(connection.scalars(sa.text(
                "SELECT id FROM payments WHERE partner_txn_ref LIKE :p ORDER BY id"), {"p": f"{PREFIX}%"}))  # fmt: skip
        engine.dispose()
    return ids[:count]


def reset(url: str, payment_ids: list[int], due: str, parameters: dict[str, object]) -> None:
    """Make the engine's jobs pending again, due as ``due`` (SQL over the row number n = 0, 1, ...)."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        ids = {"ids": payment_ids}
        connection.execute(
            sa.text(
                "UPDATE jobs SET due_at = '2100-01-01' WHERE state = 'pending' AND due_at < '2100-01-01' "
                "AND NOT (payment_id = ANY(:ids))"
            ),
            ids,
        )
        calls_of_jobs = "DELETE FROM outbound_calls WHERE job_id IN (SELECT id FROM jobs WHERE payment_id = ANY(:ids))"
        connection.execute(sa.text(calls_of_jobs), ids)
        connection.execute(
            sa.text("UPDATE payments SET status = 'RECEIVED', status_reason = NULL WHERE id = ANY(:ids)"), ids
        )
        connection.execute(
            sa.text(
                f"""UPDATE jobs SET state = 'pending', attempts = 0, outcome = NULL, finished_at = NULL,
                lease_owner = NULL, lease_expires_at = NULL, last_error = NULL, due_at = numbered.due,
                anchor_at = numbered.due - interval '5 seconds'
                FROM (SELECT id, {due} AS due FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM jobs
                      WHERE payment_id = ANY(:ids) AND kind = 'confirm_payment') AS j) AS numbered
                WHERE jobs.id = numbered.id"""  # noqa: S608 (``due`` is an expression of this script's own)
            ),
            {**ids, **parameters},
        )
    engine.dispose()
    vacuum(url, "jobs", "outbound_calls", "payments")


def pending(url: str, payment_ids: list[int]) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        count = connection.scalar(
            sa.text("SELECT count(*) FROM jobs WHERE payment_id = ANY(:ids) AND state = 'pending'"),
            {"ids": payment_ids},
        )
    engine.dispose()
    return count or 0


def timings(url: str, payment_ids: list[int]) -> tuple[float, list[float], int]:
    """(last finish - first call start in seconds, each job's lateness in seconds, checks made)."""
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        first, last = connection.execute(
            sa.text(
                "SELECT min(c.created_at), max(j.finished_at) FROM jobs j JOIN outbound_calls c ON c.job_id = j.id "
                "WHERE j.payment_id = ANY(:ids)"
            ),
            {"ids": payment_ids},
        ).one()
        lateness = [
            float(value)
            for value in connection.scalars(
                sa.text(
                    "SELECT extract(epoch FROM min(c.created_at) - j.due_at) FROM jobs j JOIN outbound_calls c "
                    "ON c.job_id = j.id WHERE j.payment_id = ANY(:ids) GROUP BY j.id, j.due_at"
                ),
                {"ids": payment_ids},
            )
        ]
        calls = connection.scalar(
            sa.text(
                "SELECT count(*) FROM outbound_calls WHERE job_id IN (SELECT id FROM jobs WHERE payment_id = ANY(:ids))"
            ),
            {"ids": payment_ids},
        )
    engine.dispose()
    return ((last - first).total_seconds() if first and last else 0.0), lateness, calls or 0


@contextmanager
def worker_processes(
    count: int, concurrency: int, env: dict[str, str], log_name: str
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` ``biller-server worker`` processes, each logging to ``WORK/<log_name>-<n>.log``; stopped (SIGTERM,
    then SIGKILL after 30 s) on the way out, as ``common.running`` stops any process."""
    command = [str(BILLER), "worker", "--concurrency", str(concurrency)]
    with ExitStack() as stack:
        yield [
            stack.enter_context(running(command, env=env, log=WORK / f"{log_name}-{index}.log"))
            for index in range(count)
        ]


def run(url: str, env: dict[str, str], payment_ids: list[int], workers: int, concurrency: int,
        rate: float | None, timeout: float, profile: Path | None = None) -> Run:  # fmt: skip
    if rate is None:
        reset(url, payment_ids, "now() + interval '1 day'", {})
    else:
        # Parked in 2100 (relative times kept) until the workers are up; shifted to now below.
        reset(
            url, payment_ids, "to_timestamp(:start) + n * interval '1 second' / :rate", {"start": PARKED, "rate": rate}
        )
    with worker_processes(workers, concurrency, env, "worker") as processes:
        time.sleep(4)  # started and idle: imports and pools are not what is measured
        cpu_before = sum(cpu_seconds(p.pid) for p in processes)
        busy_before = machine_busy_seconds()
        started = time.perf_counter()
        start = time.time() + 1.0
        profiler = None if profile is None else py_spy(processes[0].pid, profile, workers, concurrency, rate)
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            if rate is None:
                all_due = "UPDATE jobs SET due_at = to_timestamp(:t) WHERE payment_id = ANY(:ids)"
                connection.execute(sa.text(all_due), {"t": start, "ids": payment_ids})
            else:
                connection.execute(
                    sa.text(
                        "UPDATE jobs SET due_at = to_timestamp(:t) + (due_at - to_timestamp(:parked)), anchor_at = "
                        "to_timestamp(:t) + (anchor_at - to_timestamp(:parked)) WHERE payment_id = ANY(:ids)"
                    ),
                    {"t": start, "parked": PARKED, "ids": payment_ids},
                )
        engine.dispose()
        deadline = time.perf_counter() + timeout
        left = len(payment_ids)
        while left and time.perf_counter() < deadline:
            time.sleep(0.5)
            left = pending(url, payment_ids)
        elapsed = time.perf_counter() - started
        worker_cpu = (sum(cpu_seconds(p.pid) for p in processes) - cpu_before) / elapsed
        machine_cpu = (machine_busy_seconds() - busy_before) / elapsed
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes what it sampled so far
            profiler.wait(60)
    seconds, lateness, calls = timings(url, payment_ids)
    done = len(payment_ids) - left
    result = Run(workers, concurrency, done, seconds, done / seconds if seconds else 0.0, worker_cpu, machine_cpu,
                 lateness if rate is not None else None, left, worker_cpu * elapsed)  # fmt: skip
    per_thousand = result.cpu_per_thousand
    print(f"  {workers} worker(s) x {concurrency} thread(s){'' if rate is None else f' at {rate:g}/s'}: {done:,} "
          f"jobs in {seconds:.1f} s = {result.checks_per_second:,.0f} checks/s ({calls:,} calls), CPU workers "
          f"{worker_cpu:.2f} machine {machine_cpu:.2f} ({per_thousand:.1f} worker CPU s per 1,000 checks), "
          f"unfinished {left}", flush=True)  # fmt: skip
    if rate is not None and lateness:
        p50, p99 = percentile(lateness, 50) * 1000, percentile(lateness, 99) * 1000
        print(f"    lateness p50 {p50:.0f} ms, p99 {p99:.0f} ms,"
              f" max {max(lateness) * 1000:.0f} ms, over 1 s: {sum(v > 1 for v in lateness)}", flush=True)  # fmt: skip
    return result


def py_spy(pid: int, directory: Path, workers: int, concurrency: int, rate: float | None) -> subprocess.Popen[bytes]:
    """Sample one worker process (``--gil``: only the samples that hold the GIL, i.e. its CPU work) until stopped."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"worker-{workers}x{concurrency}" + ("" if rate is None else f"-at-{rate:g}")
    command = [str(ROOT / ".venv/bin/py-spy"), "record", "-o", str(directory / f"{name}.txt"), "-r", "200", "--gil",
               "--format", "raw", "-p", str(pid)]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def count_statements(url: str, env: dict[str, str], payment_ids: list[int], concurrency: int) -> None:
    """Run one worker in this process over every job (all due at once) and count what it sends the database.

    Counts, per check, each statement by its first word plus the transactions (BEGIN, COMMIT, ROLLBACK: the
    driver sends those itself), and this process's CPU time per 1,000 checks (the harness's own share is
    small: a count every half second).
    """
    os.environ.update(env)
    from biller_server.app import create_app
    from biller_server.clients.registry import PartnerClients
    from biller_server.extensions import get_db, get_settings
    from biller_server.jobs.worker import Worker

    reset(url, payment_ids, "now() - interval '1 second'", {})
    app = create_app()
    counts: Counter[str] = Counter()
    with app.app_context():
        database, settings = get_db(), get_settings()
        assert database.engine is not None

        @sa.event.listens_for(database.engine, "before_cursor_execute")
        def statement(_conn, _cursor, text, _parameters, _context, executemany):  # type: ignore[no-untyped-def]
            counts[text.split(None, 1)[0].upper() + (" (executemany)" if executemany else "")] += 1

        def transaction(connection: sa.Connection, name: str) -> None:
            # Not sent in autocommit (the call journal's INSERT on PostgreSQL): psycopg sends BEGIN and COMMIT
            # only around a transaction.
            if not getattr(connection.connection.dbapi_connection, "autocommit", False):
                counts[name] += 1

        for name in ("begin", "commit", "rollback"):
            sa.event.listen(
                database.engine, name, lambda connection, _name=name: transaction(connection, _name.upper())
            )
        worker = Worker(
            sessions=database.new_session,
            clients=lambda: PartnerClients(settings),
            concurrency=concurrency,
            poll_interval_seconds=settings.worker_poll_interval_seconds,
            lease=dt.timedelta(seconds=settings.worker_lease_seconds),
        )

        def stop_when_done() -> None:
            while pending(url, payment_ids):
                time.sleep(0.5)
            worker.request_stop()

        threading.Thread(target=stop_when_done, daemon=True).start()
        cpu_before = time.process_time()
        started = time.perf_counter()
        done = worker.run()
        cpu = time.process_time() - cpu_before
        elapsed = time.perf_counter() - started
    total = sum(counts.values())
    print(f"  1 worker x {concurrency} thread(s) in this process: {done:,} checks in {elapsed:.1f} s, "
          f"{cpu / done * 1000:.2f} CPU s per 1,000 checks, {total / done:.2f} statements per check:")  # fmt: skip
    for name, count in counts.most_common():
        print(f"    {name:<28} {count / done:6.2f} per check")


@dataclass
class Soak:
    workers: int
    concurrency: int
    rate: float
    minutes: float
    checks: int
    worker_cpu_seconds: float
    samples: list[tuple[float, list[float | None]]]  # (seconds since start, each worker's RSS in MB)


def soak(url: str, env: dict[str, str], payment_ids: list[int], workers: int, concurrency: int, rate: float,
         minutes: float, sample_every: float) -> Soak:  # fmt: skip
    """Keep ``rate`` checks a second falling due for ``minutes`` and sample each worker process's RSS.

    The same jobs come round again: every second the harness makes the next ``rate`` finished (or parked) jobs due
    in slots 1 / ``rate`` s apart, their payments RECEIVED again and their calls deleted, and it vacuums those
    tables every minute (this machine's PostgreSQL runs without autovacuum; production's does not).
    """
    reset(url, payment_ids, "to_timestamp(:parked)", {"parked": PARKED})
    engine = sa.create_engine(url)
    feed = sa.text(
        """WITH chosen AS (
               SELECT id, payment_id, row_number() OVER (ORDER BY finished_at NULLS FIRST, id) - 1 AS n FROM jobs
               WHERE payment_id = ANY(:ids) AND kind = 'confirm_payment'
                     AND (state <> 'pending' OR due_at >= to_timestamp(:parked))
               ORDER BY finished_at NULLS FIRST, id LIMIT :count),
           calls AS (DELETE FROM outbound_calls WHERE job_id IN (SELECT id FROM chosen)),
           paid AS (UPDATE payments SET status = 'RECEIVED', status_reason = NULL
                    WHERE id IN (SELECT payment_id FROM chosen))
           UPDATE jobs SET state = 'pending', attempts = 0, outcome = NULL, finished_at = NULL, lease_owner = NULL,
               lease_expires_at = NULL, last_error = NULL,
               due_at = to_timestamp(:t) + chosen.n / :rate * interval '1 second',
               anchor_at = to_timestamp(:t) - interval '5 seconds'
           FROM chosen WHERE jobs.id = chosen.id"""
    )
    samples: list[tuple[float, list[float | None]]] = []
    fed = 0
    with worker_processes(workers, concurrency, env, "soak-worker") as processes:
        time.sleep(4)
        cpu_before = sum(cpu_seconds(p.pid) for p in processes)
        started = time.time()
        end = started + minutes * 60
        slot = started + 1.0  # the next second to fill with due jobs
        next_sample = started
        next_vacuum = started + 60
        while time.time() < end:
            now = time.time()
            if now >= next_sample:
                samples.append((now - started, [rss_mb(p.pid) for p in processes]))
                if len(samples) % 10 == 1:
                    print(f"  {(now - started) / 60:5.1f} min: RSS "
                          + ", ".join(f"{r:.1f}" if r else "-" for r in samples[-1][1]) + " MB; "
                          f"{fed:,} checks fed", flush=True)  # fmt: skip
                next_sample += sample_every
            if now >= next_vacuum:
                vacuum(url, "jobs", "payments", "outbound_calls")
                next_vacuum += 60
            while slot < now + 2:
                with engine.begin() as connection:
                    connection.execute(feed, {"ids": payment_ids, "parked": PARKED, "count": round(rate), "t": slot,
                                              "rate": rate})  # fmt: skip
                fed += round(rate)
                slot += round(rate) / rate
            time.sleep(max(0.0, min(slot - 2, next_sample) - time.time()))
        samples.append((time.time() - started, [rss_mb(p.pid) for p in processes]))
        worker_cpu = sum(cpu_seconds(p.pid) for p in processes) - cpu_before
        if any(p.poll() is not None for p in processes):
            raise SystemExit("a worker process exited during the soak: see bench/data/engine/soak-worker-*.log")
    with engine.connect() as connection:
        due_unfinished = connection.scalar(
            sa.text("SELECT count(*) FROM jobs WHERE payment_id = ANY(:ids) AND state = 'pending' AND due_at < now()"),
            {"ids": payment_ids},
        )
    engine.dispose()
    checks = fed - (due_unfinished or 0) - max(0, round((slot - time.time()) * rate))
    return Soak(workers, concurrency, rate, minutes, checks, worker_cpu, samples)


def slope_mb_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of RSS over time."""
    if len(points) < 2:
        return 0.0
    mean_t = statistics.mean(t for t, _ in points)
    mean_r = statistics.mean(r for _, r in points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (r - mean_r) for t, r in points) / spread * 3600 if spread else 0.0


def render_soak(header: str, result: Soak) -> str:
    lines = [
        f"`bench/confirmations_load.py --soak-minutes {result.minutes:g} --rate {result.rate:g}`: "
        f"{result.workers} `biller-server worker` process(es) x {result.concurrency} threads, {result.rate:g} checks "
        "a second falling due for the whole time (the same 10,000 Digiledge payments come round again: their jobs "
        "made due anew, their payments RECEIVED again); each worker process's RSS sampled every "
        f"{result.samples[1][0] - result.samples[0][0] if len(result.samples) > 1 else 0:.0f} s.",
        "",
        f"Measured {header}.",
        "",
        f"{result.checks:,} checks in {result.minutes:g} minutes ({result.checks / result.minutes / 60:.1f} a second); "
        f"the workers used {result.worker_cpu_seconds:.0f} CPU seconds "
        f"({result.worker_cpu_seconds / max(result.checks, 1) * 1000:.1f} per 1,000 checks).",
        "",
        "| worker | first sample | after 5 min | last | max | slope, all samples | slope, after 5 min |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for index in range(result.workers):
        points = [(t, rss[index]) for t, rss in result.samples if rss[index] is not None]
        settled = [(t, r) for t, r in points if t >= 300] or points
        lines.append(
            f"| {index} | {points[0][1]:.1f} MB | {settled[0][1]:.1f} MB | {points[-1][1]:.1f} MB | "
            f"{max(r for _, r in points):.1f} MB | {slope_mb_per_hour(points):+.2f} MB/h | "
            f"{slope_mb_per_hour(settled):+.2f} MB/h |"
        )
    return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--rate-workers", type=int, default=4)
    parser.add_argument("--rate-concurrency", type=int, default=8)
    parser.add_argument("--poll-interval", type=float, default=1.0, help="BILLER_WORKER_POLL_INTERVAL_SECONDS")
    parser.add_argument("--delay", type=float, default=0.05, help="the fake partner's answer time, seconds")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="full runs one after another, each in the section")
    parser.add_argument("--profile", type=Path, help="py-spy (--gil) on the first worker process of each run, into "
                        "this directory (summarise with bench/profile_summary.py)")  # fmt: skip
    parser.add_argument("--statements", action="store_true", help="only count statements and CPU per check: one "
                        "worker of --concurrency threads in this process, every job due at once")  # fmt: skip
    parser.add_argument("--soak-minutes", type=float, help="only the soak: --rate checks a second for this long, "
                        "sampling the worker processes' RSS")  # fmt: skip
    parser.add_argument("--soak-workers", type=int, default=2)
    parser.add_argument("--sample-seconds", type=float, default=30.0)
    arguments = parser.parse_args()

    header = machine()
    WORK.mkdir(parents=True, exist_ok=True)
    url, _ = loaded_database(200_000, 5, fresh=False)
    payment_ids = engine_payments(url, arguments.jobs)
    print(f"{len(payment_ids):,} payments with confirmation jobs", flush=True)
    port = free_port()
    env = production_env(
        url,
        BILLER_DIGILEDGE_PAYMENT_STATUS_URL=f"http://127.0.0.1:{port}/digiledge/payment-status",
        BILLER_WORKER_POLL_INTERVAL_SECONDS=str(arguments.poll_interval),
        BILLER_LOG_LEVEL="WARNING",
    )
    fake = [str(ROOT / ".venv/bin/python"), str(ROOT / "bench/fake_partner.py"), "--port", str(port), "--delay",
            str(arguments.delay)]  # fmt: skip
    with running(fake, env=dict(os.environ), log=WORK / "fake-partner.log") as partner:
        time.sleep(1)
        if arguments.statements:
            count_statements(url, env, payment_ids, arguments.concurrency[0])
            return
        if arguments.soak_minutes:
            result = soak(url, env, payment_ids, arguments.soak_workers, arguments.concurrency[0], arguments.rate,
                          arguments.soak_minutes, arguments.sample_seconds)  # fmt: skip
            section = render_soak(header, result)
            print()
            print(section)
            if not arguments.no_write:
                write_section("Confirmation engine: worker memory over a soak", section)
                print("\nwrote the soak's section of bench/RESULTS.md")
            return
        rounds = []
        for number in range(1, arguments.repeat + 1):
            if arguments.repeat > 1:
                print(f"run {number} of {arguments.repeat}", flush=True)
            started, load = f"{dt.datetime.now(dt.UTC):%H:%M} UTC", os.getloadavg()[0]
            runs: list[Run] = []
            for concurrency in arguments.concurrency:
                for workers in arguments.workers:
                    # A generous limit: one worker of one thread would need 10,000 x 55 ms.
                    runs.append(
                        run(url, env, payment_ids, workers, concurrency, None, timeout=900, profile=arguments.profile)
                    )
            rate_run = run(url, env, payment_ids, arguments.rate_workers, arguments.rate_concurrency, arguments.rate,
                           timeout=len(payment_ids) / arguments.rate + 120, profile=arguments.profile)  # fmt: skip
            rounds.append(Round(started, load, runs, rate_run))
        partner_cpu = cpu_seconds(partner.pid) + sum(cpu_seconds(c) for c in children(partner.pid))
    section = render(header, rounds, arguments, partner_cpu)
    print()
    print(section)
    if not arguments.no_write:
        write_section("Confirmation engine", section)
        print("\nwrote the Confirmation engine section of bench/RESULTS.md")


@dataclass
class Round:
    """One full run: the throughput runs, then the run at ``--rate``."""

    started: str
    load: float
    runs: list[Run]
    rate_run: Run


def render(header: str, rounds: list[Round], arguments: argparse.Namespace, partner_cpu: float) -> str:
    lines = [
        "`bench/confirmations_load.py` (see `bench/README.md`): `biller-server worker` processes with "
        f"`BILLER_ENV=production` checking {arguments.jobs:,} due Digiledge payments against a local fake partner "
        f'(bench/fake_partner.py) that answers "Successful" after {arguments.delay * 1000:.0f} ms; every check is one '
        "status call and finishes its job. Poll interval (`BILLER_WORKER_POLL_INTERVAL_SECONDS`) "
        f"{arguments.poll_interval:g} s.",
        "",
        f"Measured {header}.",
        "The workers, PostgreSQL and the fake partner share the 2 cores.",
        "",
        "Throughput: every job due at once; checks/s = jobs / (last job finished - first call started). Worker CPU "
        "per 1,000 checks: the worker processes' CPU seconds from the jobs falling due until the last finished.",
    ]
    if len(rounds) > 1:
        lines += _summary(rounds, arguments)
    for number, one_round in enumerate(rounds, 1):
        if len(rounds) > 1:
            lines += [
                "",
                f"**Run {number} of {len(rounds)}** ({one_round.started}, load average {one_round.load:.1f}):",
            ]
        lines += _round_tables(one_round, arguments)
    lines += ["", f"The fake partner used {partner_cpu:.1f} CPU seconds over all runs."]
    return "\n".join(lines)


def _ratio(runs: list[Run], workers: int) -> float:
    one = next((r for r in runs if r.workers == 1), runs[0])
    many = next((r for r in runs if r.workers == workers), runs[-1])
    return many.checks_per_second / one.checks_per_second if one.checks_per_second else 0.0


def _summary(rounds: list[Round], arguments: argparse.Namespace) -> list[str]:
    most = max(arguments.workers)
    lines = [
        "",
        f"| run | {' / '.join(str(w) for w in arguments.workers)} processes x {arguments.concurrency[0]}: checks/s | "
        f"{most} vs 1 | worker CPU s per 1,000 checks | at {arguments.rate:g}/s: achieved, p99, max, over 1 s |",
        "| --- | --- | ---: | --- | --- |",
    ]
    for number, one_round in enumerate(rounds, 1):
        runs = [r for r in one_round.runs if r.concurrency == arguments.concurrency[0]]
        late = one_round.rate_run.lateness or [0.0]
        lines.append(
            f"| {number} ({one_round.started}, load {one_round.load:.1f}) | "
            + " / ".join(f"{r.checks_per_second:,.0f}" for r in runs)
            + f" | {_ratio(runs, most):.2f}x | "
            + " / ".join(f"{r.cpu_per_thousand:.1f}" for r in runs)
            + f" | {one_round.rate_run.checks_per_second:,.0f}/s, {percentile(late, 99) * 1000:.0f} ms, "
            f"{max(late) * 1000:.0f} ms, {sum(v > 1 for v in late)} |"
        )
    ratios = [_ratio([r for r in o.runs if r.concurrency == arguments.concurrency[0]], most) for o in rounds]
    lines += ["", f"{most} processes vs 1: {min(ratios):.2f}x to {max(ratios):.2f}x over {len(rounds)} runs."]
    return lines


def _round_tables(one_round: Round, arguments: argparse.Namespace) -> list[str]:
    runs, rate_run = one_round.runs, one_round.rate_run
    lines = [
        "",
        "| worker processes x threads | checks/s | vs 1 process | wall time | CPU: workers / machine | "
        "worker CPU s per 1,000 checks |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for concurrency in sorted({r.concurrency for r in runs}):
        group = [r for r in runs if r.concurrency == concurrency]
        one = next((r for r in group if r.workers == 1), group[0])
        for r in group:
            lines.append(
                f"| {r.workers} x {r.concurrency} | {r.checks_per_second:,.0f} | "
                f"{r.checks_per_second / one.checks_per_second:.2f}x | {r.seconds:.1f} s | "
                f"{r.worker_cpu:.2f} / {r.machine_cpu:.2f} | {r.cpu_per_thousand:.1f} |"
                + (f" (unfinished: {r.unfinished})" if r.unfinished else "")
            )
    late = rate_run.lateness or [0.0]
    lines += [
        "",
        f"Lateness at {arguments.rate:g} checks/s ({rate_run.workers} processes x {rate_run.concurrency} threads; "
        f"{arguments.jobs:,} jobs due one after another over {arguments.jobs / arguments.rate:.0f} s; lateness = "
        "the check's call start minus its due time):",
        "",
        "| checks | achieved checks/s | p50 | p95 | p99 | max | later than 1 s | CPU: workers / machine |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {len(rate_run.lateness or []):,} | {rate_run.checks_per_second:,.0f} | "
        f"{percentile(late, 50) * 1000:.0f} ms | {percentile(late, 95) * 1000:.0f} ms | "
        f"{percentile(late, 99) * 1000:.0f} ms | {max(late) * 1000:.0f} ms | {sum(v > 1 for v in late)} | "
        f"{rate_run.worker_cpu:.2f} / {rate_run.machine_cpu:.2f} |",
        "",
        f"Mean lateness {statistics.mean(late) * 1000:.0f} ms.",
    ]
    return lines


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
