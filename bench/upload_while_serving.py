"""Serving while uploading: partners' calls during a 1,000,000-row re-upload with half the amounts changed.

For each database: a fresh one loaded with the 1M-bill file (``upload_bills.py``'s, 200,000 customers), then a
real ``biller-server serve`` (production gunicorn config, no worker) under a steady open-loop load of
fetchBills and fetchReceipt (Kaleidofin), first alone (the baseline), then while ``biller-server bills upload``
re-uploads the file with every other row's amount changed. Latency is measured from each request's scheduled
time (so a request that waited behind another counts its wait), per endpoint, in both windows. The upload's
wall time and peak memory (GNU time) are reported too.

Bars (issue 16): during the re-upload, fetchBills and fetchReceipt p99 under 50 ms on PostgreSQL; no request
waits more than 1 s on SQLite.

    .venv/bin/python bench/upload_while_serving.py [--only postgresql|sqlite] [--rate 40 10] [--baseline 20]
"""

from __future__ import annotations

import argparse
import csv
import os
import queue
import random
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BILLER,
    KALEIDOFIN_KEY,
    ROOT,
    database_url,
    machine,
    production_env,
    recreate_database,
    running,
    wait_for_http,
)
from upload_bills import DATA, generate, half_changed

DATABASE = "biller_bench_upload_serve"


@dataclass
class Sample:
    endpoint: str
    scheduled: float
    latency: float
    status: int | None


@dataclass
class Window:
    label: str
    samples: list[Sample] = field(default_factory=list)

    def line(self, endpoint: str) -> str:
        mine = sorted(sample.latency for sample in self.samples if sample.endpoint == endpoint)
        if not mine:
            return f"| {self.label} | {endpoint} | 0 | | | | | |"
        errors = sum(1 for sample in self.samples if sample.endpoint == endpoint and sample.status != 200)

        def at(share: float) -> str:
            return f"{mine[min(len(mine) - 1, int(share * len(mine)))] * 1000:.1f} ms"

        return (
            f"| {self.label} | {endpoint} | {len(mine):,} | {at(0.5)} | {at(0.95)} | {at(0.99)} | "
            f"{mine[-1] * 1000:.0f} ms | {errors} |"
        )


def load_database(backend: str, path: Path) -> str:
    if backend == "postgresql":
        recreate_database(DATABASE)
        url = database_url(DATABASE)
    else:
        directory = DATA / "sqlite-serve"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        url = f"sqlite:///{directory / 'bench.sqlite3'}"
    # Nobody is served while the books are first loaded: large write transactions (no pauses between them).
    env = {**os.environ, "BILLER_DATABASE_URL": url, "BILLER_LOG_LEVEL": "WARNING",
           "BILLER_BILL_UPLOAD_TRANSACTION_MS": "5000"}  # fmt: skip
    subprocess.run([str(BILLER), "db", "upgrade"], env=env, check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run([str(BILLER), "bills", "upload", str(path)], env=env, check=True, capture_output=True)
    print(f"  {backend}: loaded {path.name} in {time.perf_counter() - started:.0f} s", flush=True)
    if backend == "postgresql":
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sa.text("VACUUM ANALYZE"))
        engine.dispose()
    return url


def receipt_bills(path: Path, needed: int) -> list[tuple[str, int]]:
    """EXACT bills on rows the re-upload leaves as they are (``half_changed`` changes the even-numbered rows),
    spread over the whole file: a payment for one is exact before, during and after the re-upload, and some of
    them belong to the customers the batch in progress is writing."""
    with open(path, newline="", encoding="utf-8") as source:
        reader = csv.reader(source)
        next(reader)
        rows = [
            (row[4], int(row[6].replace(".", "")))
            for number, row in enumerate(reader)
            if number % 2 == 1 and row[9] == "EXACT"
        ]
    step = max(1, len(rows) // needed)
    chosen = rows[::step][:needed]
    random.Random(7).shuffle(chosen)
    return chosen


class Loader:
    """An open loop: requests are due at a fixed rate whatever the answers take; latency counts from the due time."""

    def __init__(self, base_url: str, customers: int, bills: list[tuple[str, int]], rates: tuple[float, float]):
        self.base_url = base_url
        self.customers = customers
        self.bills = bills
        self.rates = rates
        self.samples: list[Sample] = []
        self._queue: queue.Queue[tuple[str, float, int] | None] = queue.Queue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._tag = f"UPSERVE{int(time.time()) % 100000:05d}"

    def start(self, threads: int = 24) -> None:
        self._workers = [threading.Thread(target=self._work, daemon=True) for _ in range(threads)]
        for worker in self._workers:
            worker.start()
        self._scheduler = threading.Thread(target=self._schedule, daemon=True)
        self._scheduler.start()

    def _schedule(self) -> None:
        started = time.monotonic()
        sent = {"fetch_bills": 0, "fetch_receipt": 0}
        while not self._stop.is_set():
            now = time.monotonic() - started
            for endpoint, rate in zip(("fetch_bills", "fetch_receipt"), self.rates, strict=True):
                while sent[endpoint] < now * rate:
                    self._queue.put((endpoint, started + sent[endpoint] / rate, sent[endpoint]))
                    sent[endpoint] += 1
            time.sleep(0.002)

    def _work(self) -> None:
        session = requests.Session()
        headers = {"X-API-Key": KALEIDOFIN_KEY, "Content-Type": "application/json"}
        rng = random.Random()
        while (item := self._queue.get()) is not None:
            endpoint, due, number = item
            if endpoint == "fetch_bills":
                customer = f"CUST{rng.randrange(1, self.customers + 1):08d}"
                body: object = [{"identifierKey": "customerId", "identifierValue": customer}]
                path = "/bills/fetchBills"
            else:
                bill, paise = self.bills[number % len(self.bills)]
                rupees = f"{paise // 100}.{paise % 100:02d}"
                body = {
                    "systemBillId": 5_000_000 + number,
                    "partnerBillId": bill,
                    "paymentDetails": {"billAmount": float(rupees), "amountPaid": float(rupees),
                                       "transactionId": f"{self._tag}{number:07d}"},
                }  # fmt: skip
                path = "/bills/fetchReceipt"
            try:
                answer = session.post(self.base_url + path, json=body, headers=headers, timeout=30)
                status: int | None = answer.status_code
            except requests.RequestException:
                status = None
            sample = Sample(endpoint, due, time.monotonic() - due, status)
            with self._lock:
                self.samples.append(sample)

    def stop(self) -> None:
        self._stop.set()
        self._scheduler.join()
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join()

    def between(self, label: str, start: float, end: float) -> Window:
        with self._lock:
            return Window(label, [sample for sample in self.samples if start <= sample.scheduled < end])


def run_backend(backend: str, path: Path, changed: Path, arguments: argparse.Namespace) -> list[str]:
    print(f"{backend}:", flush=True)
    url = load_database(backend, path)
    bills = receipt_bills(path, 20_000)
    port = 18_000 + random.randrange(1000)
    base_url = f"http://127.0.0.1:{port}"
    env = production_env(url)
    log = DATA / "upload-serve" / f"serve-{backend}.log"
    serve = [str(BILLER), "serve", "--no-worker", "--gunicorn-config", str(ROOT / "config" / "gunicorn.conf.py"),
             "--port", str(port)]  # fmt: skip
    with running(serve, env=env, log=log):
        wait_for_http(f"{base_url}/healthz")
        loader = Loader(base_url, arguments.customers, bills, tuple(arguments.rate))
        loader.start()
        time.sleep(3)  # warm-up, not counted
        baseline_start = time.monotonic()
        time.sleep(arguments.baseline)
        upload_start = time.monotonic()
        memory_file = DATA / "upload-serve" / f"upload-{backend}-rss.txt"
        upload_env = {**os.environ, "BILLER_DATABASE_URL": url, "BILLER_LOG_LEVEL": "WARNING"}
        process = subprocess.run(
            [*(["nice", "-n", str(arguments.upload_nice)] if arguments.upload_nice else []),
             "/usr/bin/time", "-f", "%M", "-o", str(memory_file), str(BILLER), "bills", "upload", str(changed)],
            env=upload_env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        upload_end = time.monotonic()
        time.sleep(2)
        loader.stop()
    if process.returncode != 0:
        sys.exit(f"the re-upload failed:\n{process.stdout[-2000:]}\n{process.stderr[-2000:]}")
    peak_mb = int(memory_file.read_text().split()[-1]) / 1024
    summary = process.stdout.strip().splitlines()[-1]
    baseline = loader.between("alone", baseline_start, upload_start)
    during = loader.between("during the re-upload", upload_start, upload_end)
    lines = [
        f"**{backend}**: re-upload {upload_end - upload_start:.1f} s, peak {peak_mb:.0f} MB; {summary}",
        "",
        "| window | endpoint | requests | p50 | p95 | p99 | max | not 200 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for window in (baseline, during):
        for endpoint in ("fetch_bills", "fetch_receipt"):
            lines.append(window.line(endpoint))
    print("\n".join(lines), flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--bills-per-customer", type=int, default=5)
    parser.add_argument("--only", choices=["postgresql", "sqlite"])
    parser.add_argument("--rate", type=float, nargs=2, default=[40.0, 10.0], metavar=("BILLS", "RECEIPTS"),
                        help="requests per second: fetchBills, fetchReceipt")  # fmt: skip
    parser.add_argument("--baseline", type=float, default=20.0, help="seconds of load before the upload starts")
    parser.add_argument("--upload-nice", type=int, default=0,
                        help="run the re-upload under nice -n N (is it the upload's own CPU?)")  # fmt: skip
    arguments = parser.parse_args()
    path = DATA / f"bills-{arguments.customers}x{arguments.bills_per_customer}.csv"
    if not path.exists():
        generate(path, arguments.customers, arguments.bills_per_customer)
    changed = half_changed(path)
    header = machine()
    sections = []
    for backend in ("postgresql", "sqlite"):
        if arguments.only in (None, backend):
            sections += [*run_backend(backend, path, changed, arguments), ""]
    print()
    print(f"Measured {header}. Load: {arguments.rate[0]:g} fetchBills/s + {arguments.rate[1]:g} fetchReceipt/s, "
          "open loop, latency from each request's due time.")  # fmt: skip
    print("\n".join(sections))


if __name__ == "__main__":
    main()
