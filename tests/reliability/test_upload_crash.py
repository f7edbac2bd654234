"""kill -9 of a real ``bills upload`` while it writes: every customer is all old or all new, the upload shows as
interrupted, and the same file (or --resume) finishes it; on both databases."""

import csv
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from biller_server.domain.upload import COLUMNS
from biller_server.persistence.database import create_engine_for
from biller_server.persistence.migrate import upgrade
from biller_server.persistence.models import Bill, BillUpload, BillUploadState, Customer
from tests.conftest import make_settings
from tests.reliability.live import fresh_postgres_database

pytestmark = pytest.mark.slow
BILLER = Path(sys.executable).with_name("biller-server")
CUSTOMERS = 300
BILLS_EACH = 3


@pytest.fixture
def crash_database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, Engine]]:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'crash.sqlite3'}"
        engine = create_engine_for(make_settings(url))
        upgrade(engine)
        yield url, engine
        engine.dispose()
        return
    with fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
        engine = create_engine_for(make_settings(url))
        upgrade(engine)
        yield url, engine
        engine.dispose()


def bills_file(path: Path, rupees: int) -> Path:
    """CUSTOMERS customers with BILLS_EACH instalments each, every amount ``rupees`` plus the customer's number."""
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        for customer in range(CUSTOMERS):
            for bill in range(BILLS_EACH):
                writer.writerow([f"C{customer:04d}", f"Customer {customer}", f"9{customer:09d}", f"L{customer:04d}",
                                 f"L{customer:04d}-{bill}", f"Instalment {bill + 1}", rupees + customer,
                                 f"2026-{12 - bill:02d}-10", "2026-10-01", "EXACT", "", ""])  # fmt: skip
    return path


def run(url: str, *arguments: str, wait: bool = True) -> subprocess.Popen[str] | subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "BILLER_DATABASE_URL": url,
        "BILLER_LOG_LEVEL": "WARNING",
        # Batches of about one customer: hundreds of transactions, so that the kill lands between some of them.
        "BILLER_BILL_UPLOAD_TRANSACTION_MS": "1",
    }
    command = [str(BILLER), "bills", *arguments]
    if wait:
        return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300, check=False)
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_while_writing(engine: Engine, process: subprocess.Popen[str]) -> int:
    """SIGKILL the upload once it has committed some batches; return how many customers it had written."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            written = connection.execute(
                sa.select(BillUpload.customers_written)
                .where(BillUpload.state == BillUploadState.APPLYING)
                .order_by(BillUpload.id.desc())
                .limit(1)
            ).scalar()
        if written and written >= 10:
            os.kill(process.pid, signal.SIGKILL)
            process.communicate()  # reaps it and closes its pipes
            return written
        assert process.poll() is None, f"the upload ended before it could be killed: {process.communicate()}"
        time.sleep(0.005)
    raise AssertionError("the upload never started writing")


def amounts_by_customer(engine: Engine) -> dict[str, set[int]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(Customer.lender_customer_id, Bill.amount_paise).join(Bill, Bill.customer_id == Customer.id)
        ).all()
    found: dict[str, set[int]] = {}
    for customer, amount in rows:
        found.setdefault(customer, set()).add(amount)
    return found


def uploads(engine: Engine) -> list[BillUpload]:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(BillUpload).order_by(BillUpload.id)).all())


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_killed_upload_leaves_whole_customers_and_the_same_file_finishes_it(crash_database, tmp_path):
    url, engine = crash_database
    first = run(url, "upload", str(bills_file(tmp_path / "november.csv", 1000)))
    assert first.returncode == 0, first.stderr
    changed = bills_file(tmp_path / "december.csv", 2000)

    process = run(url, "upload", str(changed), wait=False)
    written = kill_while_writing(engine, process)

    # Every customer is all old or all new; some of each: the kill landed mid-way.
    customers = amounts_by_customer(engine)
    old = {name for name, amounts in customers.items() if amounts == {100_000 + int(name[1:]) * 100}}
    new = {name for name, amounts in customers.items() if amounts == {200_000 + int(name[1:]) * 100}}
    assert old | new == set(customers) and len(customers) == CUSTOMERS
    assert len(new) >= written and old and new
    listing = run(url, "uploads")
    assert "interrupted" in listing.stdout and "december.csv" in listing.stdout, listing.stdout

    again = run(url, "upload", str(changed))

    assert again.returncode == 0, again.stderr
    assert f"{len(old) * BILLS_EACH} updated, {len(new) * BILLS_EACH} unchanged" in again.stdout
    assert "(finishes #2)" in again.stdout
    assert all(amounts == {200_000 + int(name[1:]) * 100} for name, amounts in amounts_by_customer(engine).items())
    states = [(row.id, row.state, row.resumed_by_id) for row in uploads(engine)]
    assert states == [
        (1, BillUploadState.FINISHED, None),
        (2, BillUploadState.INTERRUPTED, 3),
        (3, BillUploadState.FINISHED, None),
    ]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_resume_finishes_a_killed_upload_from_its_recorded_file(crash_database, tmp_path):
    url, engine = crash_database
    process = run(url, "upload", str(bills_file(tmp_path / "bills.csv", 1000)), wait=False)
    kill_while_writing(engine, process)

    resumed = run(url, "upload", "--resume")

    assert resumed.returncode == 0, resumed.stderr
    assert "(finishes #1)" in resumed.stdout
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(Bill)).scalar() == CUSTOMERS * BILLS_EACH
    nothing_left = run(url, "upload", "--resume")
    assert nothing_left.returncode == 1
    assert nothing_left.stderr == "Error: no interrupted upload to resume\n"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_upload_finishes_while_partners_calls_write_all_along(crash_database, tmp_path):
    """Partners' calls write (payments, the inbound log) between the upload's reads and its writes: on SQLite a
    read transaction that then writes would fail at once with "database is locked"."""
    url, engine = crash_database
    assert run(url, "upload", str(bills_file(tmp_path / "november.csv", 1000))).returncode == 0
    stop = threading.Event()
    writes: list[int] = []

    def partner_calls() -> None:
        while not stop.is_set():
            with engine.begin() as connection:
                connection.execute(
                    sa.update(Customer)
                    .where(Customer.lender_customer_id == "C0000")
                    .values(updated_at=dt.datetime.now(dt.UTC))
                )
            writes.append(1)
            time.sleep(0.002)

    writer = threading.Thread(target=partner_calls)
    writer.start()
    try:
        again = run(url, "upload", str(bills_file(tmp_path / "december.csv", 2000)))
    finally:
        stop.set()
        writer.join()

    assert again.returncode == 0, again.stderr
    assert len(writes) > 100  # the partners' side kept writing throughout
    assert f"{CUSTOMERS * BILLS_EACH} updated" in again.stdout
    assert all(amounts == {200_000 + int(name[1:]) * 100} for name, amounts in amounts_by_customer(engine).items())
