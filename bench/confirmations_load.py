"""Benchmark the confirmation engine: ``biller-server worker`` processes checking 10,000 due payments with a
partner that answers in 50 ms.

    .venv/bin/python bench/confirmations_load.py [--jobs 10000] [--concurrency 4] [--workers 1 2 4] [--rate 200]

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
import statistics
import subprocess
import time
from dataclasses import dataclass

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


def run(url: str, env: dict[str, str], payment_ids: list[int], workers: int, concurrency: int,
        rate: float | None, timeout: float) -> Run:  # fmt: skip
    if rate is None:
        reset(url, payment_ids, "now() + interval '1 day'", {})
    else:
        # Parked in 2100 (relative times kept) until the workers are up; shifted to now below.
        reset(
            url, payment_ids, "to_timestamp(:start) + n * interval '1 second' / :rate", {"start": PARKED, "rate": rate}
        )
    processes = []
    logs = []
    try:
        for index in range(workers):
            log = open(WORK / f"worker-{index}.log", "wb")  # noqa: SIM115 (closed below)
            logs.append(log)
            processes.append(
                subprocess.Popen(
                    [str(BILLER), "worker", "--concurrency", str(concurrency)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        time.sleep(4)  # started and idle: imports and pools are not what is measured
        cpu_before = sum(cpu_seconds(p.pid) for p in processes)
        busy_before = machine_busy_seconds()
        started = time.perf_counter()
        start = time.time() + 1.0
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
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()
    seconds, lateness, calls = timings(url, payment_ids)
    done = len(payment_ids) - left
    result = Run(workers, concurrency, done, seconds, done / seconds if seconds else 0.0, worker_cpu, machine_cpu,
                 lateness if rate is not None else None, left)  # fmt: skip
    print(f"  {workers} worker(s) x {concurrency} thread(s){'' if rate is None else f' at {rate:g}/s'}: {done:,} "
          f"jobs in {seconds:.1f} s = {result.checks_per_second:,.0f} checks/s ({calls:,} calls), CPU workers "
          f"{worker_cpu:.2f} machine {machine_cpu:.2f}, unfinished {left}", flush=True)  # fmt: skip
    if rate is not None and lateness:
        p50, p99 = percentile(lateness, 50) * 1000, percentile(lateness, 99) * 1000
        print(f"    lateness p50 {p50:.0f} ms, p99 {p99:.0f} ms,"
              f" max {max(lateness) * 1000:.0f} ms, over 1 s: {sum(v > 1 for v in lateness)}", flush=True)  # fmt: skip
    return result


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
    runs: list[Run] = []
    with running(fake, env=dict(os.environ), log=WORK / "fake-partner.log") as partner:
        time.sleep(1)
        for concurrency in arguments.concurrency:
            for workers in arguments.workers:
                # A generous limit: one worker of one thread would need 10,000 x 55 ms.
                runs.append(run(url, env, payment_ids, workers, concurrency, None, timeout=900))
        rate_run = run(url, env, payment_ids, arguments.rate_workers, arguments.rate_concurrency, arguments.rate,
                       timeout=len(payment_ids) / arguments.rate + 120)  # fmt: skip
        partner_cpu = cpu_seconds(partner.pid) + sum(cpu_seconds(c) for c in children(partner.pid))
    section = render(header, runs, rate_run, arguments, partner_cpu)
    print()
    print(section)
    if not arguments.no_write:
        write_section("Confirmation engine", section)
        print("\nwrote the Confirmation engine section of bench/RESULTS.md")


def render(header: str, runs: list[Run], rate_run: Run, arguments: argparse.Namespace, partner_cpu: float) -> str:
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
        "Throughput: every job due at once; checks/s = jobs / (last job finished - first call started).",
        "",
        "| worker processes x threads | checks/s | vs 1 process | wall time | CPU: workers / machine |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for concurrency in sorted({r.concurrency for r in runs}):
        group = [r for r in runs if r.concurrency == concurrency]
        one = next((r for r in group if r.workers == 1), group[0])
        for r in group:
            lines.append(
                f"| {r.workers} x {r.concurrency} | {r.checks_per_second:,.0f} | "
                f"{r.checks_per_second / one.checks_per_second:.2f}x | {r.seconds:.1f} s | "
                f"{r.worker_cpu:.2f} / {r.machine_cpu:.2f} |"
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
        f"Mean lateness {statistics.mean(late) * 1000:.0f} ms. The fake partner used {partner_cpu:.1f} CPU seconds "
        "over all runs.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
