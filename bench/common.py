"""What the serving and confirmation-engine benchmarks share: the loaded database, the production-like
environment, starting and stopping processes, reading RSS, and writing sections of bench/RESULTS.md.

Not a test helper: these scripts are run by hand (bench/README.md).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from upload_bills import DATA, generate  # noqa: E402  (bench/ is not a package)

BILLER = ROOT / ".venv" / "bin" / "biller-server"
ADMIN_URL = os.environ.get("BILLER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
# BILLER_BENCH_DATABASE: another name, so that two checkouts on one machine do not share (or recreate) one database.
SERVE_DATABASE = os.environ.get("BILLER_BENCH_DATABASE", "biller_bench_serve")
RESULTS = ROOT / "bench" / "RESULTS.md"
KALEIDOFIN_KEY = "bench-kaleidofin-key-0123456789"
DIGILEDGE_KEY = "bench-digiledge-key-0123456789"
DIGILEDGE_BILLER_ID = "BENCHBILLER01"


def database_url(name: str = SERVE_DATABASE) -> str:
    return sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def admin_engine() -> sa.Engine:
    return sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")


def database_exists(name: str) -> bool:
    engine = admin_engine()
    with engine.connect() as connection:
        found = connection.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
    engine.dispose()
    return bool(found)


def recreate_database(name: str, *, template: str | None = None) -> None:
    """Drop ``name`` and create it again: empty, or a copy of ``template``."""
    engine = admin_engine()
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        copy = f' TEMPLATE "{template}"' if template else ""
        connection.execute(sa.text(f'CREATE DATABASE "{name}"{copy}'))
    engine.dispose()


def bill_count(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(sa.text("SELECT count(*) FROM bills")) or 0
    except sa.exc.ProgrammingError:
        return 0
    finally:
        engine.dispose()


def loaded_database(
    customers: int, bills_per_customer: int, *, fresh: bool, name: str = SERVE_DATABASE
) -> tuple[str, dict[str, float]]:
    """The benchmark database ``name`` with ``customers`` x ``bills_per_customer`` bills, loaded by ``bills upload``.

    Reused when it already holds that many bills and ``fresh`` is not asked for (payments made by earlier runs
    stay; every script picks bills that are still open). Returns the URL and what the load took.
    """
    url = database_url(name)
    rows = customers * bills_per_customer
    if not fresh and database_exists(name) and bill_count(url) == rows:
        print(f"reusing database {name} ({rows:,} bills)", flush=True)
        return url, {}
    path = DATA / f"bills-{customers}x{bills_per_customer}.csv"
    if not path.exists():
        print(f"generating {path} ({rows:,} rows)", flush=True)
        generate(path, customers, bills_per_customer)
    recreate_database(name)
    env = {**os.environ, "BILLER_DATABASE_URL": url, "BILLER_LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    subprocess.run([str(BILLER), "db", "upgrade"], env=env, check=True, capture_output=True)
    print(f"uploading {path.name} into a fresh database {name}", flush=True)
    subprocess.run([str(BILLER), "bills", "upload", str(path)], env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()
    print(f"  loaded {rows:,} bills in {seconds:.1f} s", flush=True)
    return url, {"load_seconds": seconds}


def production_env(url: str, **extra: str) -> dict[str, str]:
    """BILLER_ENV=production with every variable check_production asks for; partners on unused loopback ports."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BILLER_", "PROMETHEUS_"))}
    env.update(
        {
            "BILLER_ENV": "production",
            "BILLER_DATABASE_URL": url,
            "BILLER_INSTANCE_DIR": str(DATA / "instance"),
            "BILLER_KALEIDOFIN_API_KEY": KALEIDOFIN_KEY,
            "BILLER_DIGILEDGE_API_KEY": DIGILEDGE_KEY,
            # Nothing listens on port 9 (discard): the API never calls partners, and no worker runs beside it.
            "BILLER_KALEIDOFIN_STATUS_URL": "http://127.0.0.1:9/kaleidofin/status",
            "BILLER_DIGILEDGE_PAYMENT_STATUS_URL": "http://127.0.0.1:9/digiledge/payment-status",
            "BILLER_DIGILEDGE_BILLER_ID": DIGILEDGE_BILLER_ID,
            "BILLER_LOG_LEVEL": "INFO",
        }
    )
    env.update(extra)
    return env


def wrk_report(stdout: str) -> dict[str, Any] | None:
    """The figures bench/lua/report.lua prints at the end of a wrk run (its ``WRK_JSON`` line), or None if wrk
    printed none (it failed, or was stopped before its summary)."""
    line = next((line for line in stdout.splitlines() if line.startswith("WRK_JSON ")), None)
    return None if line is None else json.loads(line.removeprefix("WRK_JSON "))  # type: ignore[no-any-return]


def wait_for_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout} s")
        time.sleep(0.2)


@contextmanager
def running(command: list[str], *, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in its own process group; SIGTERM (then SIGKILL) the group on the way out."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process, of its live children and of the children it has reaped (gunicorn's arbiter reaps
    every worker it restarts, so their time is kept)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    return cpu_seconds(pid) + reaped + sum(cpu_seconds(child) for child in children(pid))


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy (every process: server, PostgreSQL, wrk, anything else)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def machine() -> str:
    meminfo = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()
    memory_gb = int(meminfo[1]) / 1024 / 1024
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                            text=True).stdout.splitlines()  # fmt: skip
    dirty = [line for line in status if not line.endswith("bench/RESULTS.md")]
    engine = admin_engine()
    with engine.connect() as connection:
        server = connection.scalar(sa.text("SHOW server_version"))
        buffers = connection.scalar(sa.text("SHOW shared_buffers"))
    engine.dispose()
    load = os.getloadavg()[0]
    return (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {commit.stdout.strip()}"
        f"{' plus uncommitted changes in the work tree' if dirty else ''}; {platform.machine()}, "
        f"{os.cpu_count()} CPUs (`nproc`), {memory_gb:.1f} GB memory; Python {platform.python_version()}; "
        f"PostgreSQL {server} on the same machine (shared_buffers {buffers}); load average {load:.1f} when the run "
        "started"
    )


def vacuum(url: str, *tables: str) -> None:
    """VACUUM ANALYZE (``tables``, or the whole database) before measuring.

    The benchmarks rewrite many rows between runs (jobs made pending again, others parked), and a PostgreSQL server
    may run without autovacuum (this machine's does: ``autovacuum = off``): the dead rows would pile up run after
    run and slow every index scan over them.
    """
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f"VACUUM ANALYZE {', '.join(tables)}"))
    engine.dispose()


def write_section(title: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of bench/RESULTS.md, keeping every other section."""
    text = RESULTS.read_text(encoding="utf-8")
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")
