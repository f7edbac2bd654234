"""Benchmark ``biller-server bills upload``: a million rows into PostgreSQL and SQLite, against psql's \\copy.

Generates bench/data/bills-1m.csv (200,000 customers, 5 bills each; kept for later runs), then for each
database: a fresh database migrated to head, the upload as a subprocess (wall time, rows/s, peak RSS of that
process), and a second upload of the same file (everything unchanged). On PostgreSQL it also times psql's
``\\copy`` of the same file into an unindexed table of text columns: the physical ceiling for getting the bytes
in. Prints a Markdown section for bench/RESULTS.md.

    .venv/bin/python bench/upload_bills.py [--customers 200000] [--bills-per-customer 5] [--only postgresql]

``--reupload`` times only the bar's runs (issue 16): the file again with half the amounts changed, as ``.xlsx``
and as CSV, each into a fresh PostgreSQL database loaded with the file and VACUUM ANALYZEd; and the workbook's
reader process alone (its peak memory is its own: GNU time reports the larger of the two processes, not their
sum). Data files already in bench/data are used as they are (the workbook takes minutes to make).

    .venv/bin/python bench/upload_bills.py --reupload
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from biller_server.config import load_settings

from biller_server.domain.upload import COLUMNS
from biller_server.domain.upload.xlsx import reader_command
from biller_server.persistence.database import create_engine_for
from biller_server.persistence.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
BILLER = ROOT / ".venv" / "bin" / "biller-server"
ADMIN_URL = os.environ.get("BILLER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BENCH_DATABASE = os.environ.get("BILLER_BENCH_DATABASE", "biller_bench_upload")


@dataclass
class Run:
    label: str
    seconds: float
    peak_mb: float
    rows: int
    output: str

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


def bill_rows(customers: int, bills_per_customer: int) -> Iterator[list[str]]:
    """The rows of the benchmark file, in COLUMNS order: each customer has one loan and monthly instalments."""
    rng = random.Random(20261123)
    first_names = ["Asha", "Ravi", "Meena", "Suresh", "Lakshmi", "Arjun", "Fatima", "Joseph", "Kavita", "Imran"]
    last_names = ["Devi", "Kumar", "Patel", "Singh", "Nair", "Reddy", "Khan", "Das", "Iyer", "Gupta"]
    generated = dt.date(2026, 11, 1)
    for number in range(1, customers + 1):
        name = f"{rng.choice(first_names)} {rng.choice(last_names)}"
        mobile = f"9{rng.randrange(10**9):09d}" if rng.random() < 0.9 else ""
        loan = f"LN{number:09d}"
        instalment_paise = rng.randrange(50_000, 1_000_000)
        for instalment in range(1, bills_per_customer + 1):
            due = dt.date(2026 + (10 + instalment) // 12, (10 + instalment) % 12 + 1, 10)
            exactness = rng.choices(["EXACT", "EXACT_UP", "EXACT_DOWN", "ANY", "RANGE"], [70, 10, 5, 5, 10])[0]
            bounds = ["", ""]
            if exactness == "RANGE":
                bounds = [
                    f"{instalment_paise // 200}.00",
                    f"{instalment_paise // 100}.{instalment_paise % 100:02d}",
                ]
            yield [
                f"CUST{number:08d}",
                name,
                mobile,
                loan,
                f"{loan}-{instalment:03d}",
                f"Instalment {instalment} of {bills_per_customer}",
                f"{instalment_paise // 100}.{instalment_paise % 100:02d}",
                due.isoformat(),
                generated.isoformat(),
                exactness,
                *bounds,
            ]


def half_changed(path: Path) -> Path:
    """The same file with every other row's amount one rupee more (RANGE bounds widened to match)."""
    changed = path.with_name(path.stem + "-half-changed.csv")
    if changed.exists():
        return changed
    with open(path, newline="", encoding="utf-8") as source, open(changed, "w", newline="", encoding="utf-8") as out:
        reader, writer = csv.reader(source), csv.writer(out, lineterminator="\n")
        writer.writerow(next(reader))
        for number, row in enumerate(reader):
            if number % 2 == 0:
                rupees, paise = row[6].split(".")
                row[6] = f"{int(rupees) + 1}.{paise}"
                if row[9] == "RANGE":
                    row[11] = row[6]
            writer.writerow(row)
    return changed


def generate(path: Path, customers: int, bills_per_customer: int) -> int:
    """Write the benchmark file as CSV, with the template's column names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with open(partial, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(bill_rows(customers, bills_per_customer))
    partial.rename(path)
    return customers * bills_per_customer


# The workbook as a lender's loan system exports it: its own column names, extra columns, Excel's own types.
XLSX_HEADER = [
    "Branch", "Customer ID", "Customer Name", "Mobile No", "Loan A/c No", "EMI ID", "Description", "EMI Amount",
    "Due Date", "Bill Date", "Amount Exactness", "Min Amount", "Max Amount", "DPD", "Product",
]  # fmt: skip


def generate_xlsx(path: Path, customers: int, bills_per_customer: int, *, half_changed: bool = False) -> int:
    """Write the same bills as an Excel workbook (openpyxl's write-only mode): dates, amounts and mobiles typed.

    ``half_changed``: every other row's amount one rupee more, as ``upload_while_serving.half_changed`` does to
    the CSV (a RANGE bill's maximum follows it)."""
    from openpyxl import Workbook

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Demand")
    sheet.append(XLSX_HEADER)
    branches = ["Madurai", "Salem", "Erode", "Tiruppur"]
    for number, row in enumerate(bill_rows(customers, bills_per_customer)):
        customer_id, name, mobile, loan, bill_id, bill_name, amount, due, generated, exactness, low, high = row
        if half_changed and number % 2 == 0:
            rupees, paise = amount.split(".")
            amount = f"{int(rupees) + 1}.{paise}"
            high = amount if exactness == "RANGE" else high
        sheet.append(
            [
                branches[number % len(branches)],
                customer_id,
                name,
                int(mobile) if mobile else None,
                loan,
                bill_id,
                bill_name,
                float(amount),
                dt.date.fromisoformat(due),
                dt.date.fromisoformat(generated),
                exactness,
                float(low) if low else None,
                float(high) if high else None,
                number % 90,
                "JLG",
            ]
        )
    workbook.save(partial)
    partial.rename(path)
    return customers * bills_per_customer


def timed(label: str, command: list[str], rows: int, env: dict[str, str] | None = None) -> Run:
    """Run ``command`` and measure its wall time and the peak resident memory of that one process.

    The peak comes from GNU time (``%M``): a child's ru_maxrss as the parent sees it starts at the parent's own
    size when it was forked, which would overstate a small process such as psql.
    """
    memory_file = DATA / "peak-rss.txt"
    started = time.perf_counter()
    process = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "-o", str(memory_file), *command],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"{label} failed ({process.returncode}):\n{process.stdout[-2000:]}")
    peak_mb = int(memory_file.read_text().split()[-1]) / 1024
    last_line = process.stdout.strip().splitlines()[-1] if process.stdout.strip() else ""
    return Run(label, seconds, peak_mb, rows, last_line)


def fresh_postgresql() -> str:
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{BENCH_DATABASE}"'))
    admin.dispose()
    return sa.make_url(ADMIN_URL).set(database=BENCH_DATABASE).render_as_string(hide_password=False)


def drop_postgresql() -> None:
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
    admin.dispose()


def migrate(url: str) -> None:
    engine = create_engine_for(load_settings(database_url=url), url)
    upgrade(engine)
    engine.dispose()


def copy_ceiling(url: str, path: Path, rows: int) -> Run:
    """psql's \\copy of the same file into an unindexed table of text columns."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        columns = ", ".join(f"{name} TEXT" for name in COLUMNS)
        connection.execute(sa.text(f"CREATE TABLE bench_copy_ceiling ({columns})"))
    engine.dispose()
    parsed = sa.make_url(url)
    command = [
        "psql",
        "-h",
        parsed.host or "127.0.0.1",
        "-p",
        str(parsed.port or 5432),
        "-U",
        parsed.username or "postgres",
        "-d",
        parsed.database or BENCH_DATABASE,
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        f"\\copy bench_copy_ceiling FROM '{path}' CSV HEADER",
    ]
    return timed("psql \\copy into an unindexed text table", command, rows)


def upload_runs(url: str, path: Path, rows: int, name: str) -> list[Run]:
    env = {"BILLER_DATABASE_URL": url, "BILLER_LOG_LEVEL": "WARNING"}
    first = timed(f"{name}: upload into an empty database", [str(BILLER), "bills", "upload", str(path)], rows, env)
    print(f"  {first.label}: {first.seconds:.1f} s, {first.peak_mb:.0f} MB; {first.output}", flush=True)
    again = timed(f"{name}: same file again (all unchanged)", [str(BILLER), "bills", "upload", str(path)], rows, env)
    print(f"  {again.label}: {again.seconds:.1f} s, {again.peak_mb:.0f} MB; {again.output}", flush=True)
    return [first, again]


def xlsx_run(customers: int, bills_per_customer: int, rows: int) -> Run:
    """The same bills as an Excel workbook, uploaded into a fresh PostgreSQL database."""
    path = DATA / f"bills-{customers}x{bills_per_customer}.xlsx"
    if not path.exists():
        print(f"generating {path} ({rows:,} rows; openpyxl's write-only mode takes minutes)", flush=True)
        generate_xlsx(path, customers, bills_per_customer)
    url = fresh_postgresql()
    migrate(url)
    env = {"BILLER_DATABASE_URL": url, "BILLER_LOG_LEVEL": "WARNING"}
    run = timed("PostgreSQL: the same bills as .xlsx, into an empty database", [str(BILLER), "bills", "upload",
                str(path)], rows, env)  # fmt: skip
    print(f"  {run.label}: {run.seconds:.1f} s, {run.peak_mb:.0f} MB; {run.output}", flush=True)
    return run


def reupload_runs(customers: int, bills_per_customer: int, rows: int, base: Path) -> list[Run]:
    """The bar's runs: the file again with half the amounts changed, as .xlsx then as CSV, each into a fresh
    PostgreSQL database loaded with ``base`` and VACUUM ANALYZEd (so both start from the same books)."""
    workbook = DATA / f"bills-{customers}x{bills_per_customer}-half-changed.xlsx"
    if not workbook.exists():
        print(f"generating {workbook} ({rows:,} rows; openpyxl's write-only mode takes minutes)", flush=True)
        generate_xlsx(workbook, customers, bills_per_customer, half_changed=True)
    changed_csv = half_changed(base)
    runs = []
    command = reader_command(workbook, 1)
    with open(os.devnull, "wb") as sink:
        memory_file = DATA / "peak-rss.txt"
        started = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(memory_file), *command], stdout=sink, check=True)
        seconds = time.perf_counter() - started
    reader = Run("the workbook's reader process alone (to /dev/null)", seconds,
                 int(memory_file.read_text().split()[-1]) / 1024, rows, "")  # fmt: skip
    print(f"  {reader.label}: {reader.seconds:.1f} s, {reader.peak_mb:.0f} MB", flush=True)
    for label, path in ((".xlsx", workbook), ("CSV", changed_csv)):
        url = fresh_postgresql()
        migrate(url)
        env = {"BILLER_DATABASE_URL": url, "BILLER_LOG_LEVEL": "WARNING"}
        load = timed(f"PostgreSQL: {base.name} into an empty database", [str(BILLER), "bills", "upload", str(base)],
                     rows, env)  # fmt: skip
        print(f"  {load.label}: {load.seconds:.1f} s, {load.peak_mb:.0f} MB; {load.output}", flush=True)
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sa.text("VACUUM ANALYZE"))
        engine.dispose()
        load_average = os.getloadavg()[0]
        run = timed(f"PostgreSQL: re-upload, half the amounts changed, {label} (load {load_average:.1f} at start)",
                    [str(BILLER), "bills", "upload", str(path)], rows, env)  # fmt: skip
        run.label += f", load {os.getloadavg()[0]:.1f} at end"
        print(f"  {run.label}: {run.seconds:.1f} s, {run.peak_mb:.0f} MB; {run.output}", flush=True)
        runs += [load, run]
    drop_postgresql()
    return [reader, *runs]


def machine() -> str:
    meminfo = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()
    memory_gb = int(meminfo[1]) / 1024 / 1024
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return (
        f"{dt.date.today()}, commit {commit.stdout.strip()}, {platform.machine()} with {os.cpu_count()} CPUs "
        f"(nproc) and {memory_gb:.1f} GB memory, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--bills-per-customer", type=int, default=5)
    parser.add_argument("--only", choices=["postgresql", "sqlite"])
    parser.add_argument(
        "--xlsx", action="store_true", help="Also upload the same bills as an Excel workbook (PostgreSQL, fresh)."
    )
    parser.add_argument(
        "--reupload",
        action="store_true",
        help="Only the re-uploads with half the amounts changed, .xlsx and CSV, each into a fresh PostgreSQL database "
        "loaded with the file (the bar of issue 16).",
    )
    arguments = parser.parse_args()

    rows = arguments.customers * arguments.bills_per_customer
    path = DATA / f"bills-{arguments.customers}x{arguments.bills_per_customer}.csv"
    if not path.exists():
        print(f"generating {path} ({rows:,} rows)", flush=True)
        generate(path, arguments.customers, arguments.bills_per_customer)
    print(f"{path.name}: {rows:,} rows, {path.stat().st_size / 1024 / 1024:.0f} MB", flush=True)

    runs: list[Run] = []
    ceiling: Run | None = None
    if arguments.reupload:
        try:
            runs = reupload_runs(arguments.customers, arguments.bills_per_customer, rows, path)
        finally:
            drop_postgresql()
    elif arguments.only in (None, "postgresql"):
        url = fresh_postgresql()
        try:
            migrate(url)
            server = subprocess.run(["psql", url.replace("+psycopg", ""), "-Atc", "SHOW server_version"],
                                    capture_output=True, text=True).stdout.strip()  # fmt: skip
            print(f"PostgreSQL {server}", flush=True)
            runs += upload_runs(url, path, rows, "PostgreSQL")
            ceiling = copy_ceiling(url, path, rows)
            print(f"  {ceiling.label}: {ceiling.seconds:.1f} s", flush=True)
            if arguments.xlsx:
                runs.append(xlsx_run(arguments.customers, arguments.bills_per_customer, rows))
        finally:
            drop_postgresql()
    if arguments.only in (None, "sqlite") and not arguments.reupload:
        directory = DATA / "sqlite"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        url = f"sqlite:///{directory / 'bench.sqlite3'}"
        migrate(url)
        runs += upload_runs(url, path, rows, "SQLite")
        shutil.rmtree(directory, ignore_errors=True)

    print()
    print(f"Machine: {machine()}.")
    print(f"File: {rows:,} rows ({arguments.customers:,} customers), {path.stat().st_size / 1024 / 1024:.0f} MB.")
    print()
    print("| run | wall time | rows/s | peak memory | vs psql \\copy |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for run in [*runs, *([ceiling] if ceiling else [])]:
        ratio = f"{run.seconds / ceiling.seconds:.1f}x" if ceiling else "n/a"
        print(f"| {run.label} | {run.seconds:.1f} s | {run.rows_per_second:,.0f} | {run.peak_mb:.0f} MB | {ratio} |")


if __name__ == "__main__":
    main()
