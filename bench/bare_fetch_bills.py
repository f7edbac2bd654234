"""How far any Python could go: fetchBills as bare as it can be written, beside the server's, on the same machine.

    .venv/bin/python bench/bare_fetch_bills.py [--duration 10] [--repeat 3] [--no-write]

Issue 20 asks fetchBills for floor / cost >= 0.6 (bench/serve_load.py: the floor is /healthz's cost plus
PostgreSQL's and the driver's work for the request's statements). This measures what the same work costs written
with nothing but the standard library and psycopg, under the same gunicorn (gthread, the same workers and threads,
keep-alive) and the same wrk script: the API key compared, the JSON body parsed and checked, one prepared SELECT
of the customer and payable bills (bench/sql/fetch_bills.sql's), one INSERT of the inbound log row with the request's
headers and body, in autocommit (no BEGIN or COMMIT, as the server now does on PostgreSQL), and the JSON answer.
No Flask, no SQLAlchemy, no access log, no metrics, no request id. Whatever it costs, the server's fetchBills cannot
cost less; the ratio it reaches is the most any server in Python on this stack could reach.

Writes "Serving: fetchBills with nothing but the standard library and psycopg" in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import (
    DATA,
    KALEIDOFIN_KEY,
    ROOT,
    loaded_database,
    machine,
    machine_busy_seconds,
    running,
    tree_cpu_seconds,
    wait_for_http,
    write_section,
    wrk_report,
)

LUA = ROOT / "bench" / "lua"
WORK = DATA / "bare"

# bench/sql/fetch_bills.sql's statements, bound as the server binds them.
SELECT = """SELECT customers.id, customers.lender_customer_id, customers.name, customers.mobile, customers.created_at,
 customers.updated_at, bills.id, bills.customer_id, bills.partner_bill_id, bills.loan_account_number, bills.name,
 bills.amount_paise, bills.paid_paise, bills.exactness, bills.min_amount_paise, bills.max_amount_paise, bills.due_date,
 bills.generated_date, bills.status, bills.closed_at, bills.closed_reason, bills.created_at, bills.updated_at
 FROM customers JOIN (SELECT DISTINCT customer_identifiers.customer_id AS customer_id FROM customer_identifiers
 WHERE customer_identifiers.kind = 'customer_id' AND customer_identifiers.value = %s LIMIT 2) AS anon_1
 ON customers.id = anon_1.customer_id LEFT OUTER JOIN bills ON bills.customer_id = customers.id
 AND (bills.status = 'OPEN' OR bills.status = 'PARTIALLY_PAID') AND bills.paid_paise < bills.amount_paise
 ORDER BY customers.id, bills.generated_date, bills.id"""
INSERT = """INSERT INTO inbound_messages (received_at, channel, method, path, source_address, request_id, headers, body,
 status_code, outcome, partner_ref, error, duration_ms)
 VALUES (now(), 'kaleidofin', 'POST', '/bills/fetchBills', %s, %s, %s, %s, %s, %s, %s, NULL, %s)"""


def application(environ, start_response):  # type: ignore[no-untyped-def]
    """The WSGI app gunicorn serves (``bare_fetch_bills:application``)."""
    if environ["PATH_INFO"] == "/healthz":
        return _answer(start_response, "200 OK", b'{"status":"ok"}')
    started = time.perf_counter()
    if not hmac.compare_digest(environ.get("HTTP_X_API_KEY", "").encode(), _KEY):
        return _answer(start_response, "401 Unauthorized", b'{"status":1,"success":false}')
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    try:
        items = json.loads(body)
        identifier = next(item["identifierValue"] for item in items if item["identifierKey"] == "customerId")
    except (ValueError, KeyError, TypeError, StopIteration):
        return _answer(start_response, "400 Bad Request", b'{"status":1,"success":false}')
    connection = _connection()
    rows = connection.execute(SELECT, (identifier,), prepare=True).fetchall()
    if rows:
        customer = rows[0]
        bills = [
            {
                "billName": row[10],
                "billAmount": row[11] / 100,
                "partnerBillId": row[8],
                "dueDate": row[16].isoformat(),
                "generatedDate": row[17].isoformat(),
                "amountExactness": row[13],
            }
            for row in rows
            if row[6] is not None
        ]
        status, outcome = "200 OK", "available"
        answer = json.dumps(
            {
                "data": {
                    "billFetchStatus": "AVAILABLE" if bills else "NO_OUTSTANDING",
                    "customerBills": {"bills": bills},
                    "customer": {
                        "info": {"name": customer[2], "phoneNumber": customer[3], "consumerId": customer[1]},
                        "name": customer[2],
                    },
                },
                "status": 0,
                "success": True,
            }
        ).encode()
    else:
        status, outcome, answer = "400 Bad Request", "refused:customer-not-found", b'{"status":1,"success":false}'
    headers = {
        key[5:].replace("_", "-").title(): ("[REDACTED]" if key == "HTTP_X_API_KEY" else value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    connection.execute(
        INSERT,
        (
            environ.get("REMOTE_ADDR"),
            os.urandom(16).hex(),
            json.dumps(headers),
            body,
            int(status[:3]),
            outcome,
            identifier[:100],
            round((time.perf_counter() - started) * 1000, 3),
        ),
        prepare=True,
    )
    return _answer(start_response, status, answer)


_KEY = os.environ.get("BARE_API_KEY", "").encode()
_local = threading.local()


def _connection():  # type: ignore[no-untyped-def]
    connection = getattr(_local, "connection", None)
    if connection is None:
        import psycopg

        connection = _local.connection = psycopg.connect(os.environ["BARE_DSN"], autocommit=True)
    return connection


def _answer(start_response, status: str, body: bytes) -> list[bytes]:  # type: ignore[no-untyped-def]
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    arguments = parser.parse_args()
    header = machine()
    url, _ = loaded_database(200_000, 5, fresh=False)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    WORK.mkdir(parents=True, exist_ok=True)
    port = 8950
    env = {**os.environ, "BARE_DSN": dsn, "BARE_API_KEY": KALEIDOFIN_KEY, "PYTHONPATH": str(ROOT / "bench")}
    workers = str(max(2, 2 * (os.cpu_count() or 1)))  # as config/gunicorn.conf.py
    command = [str(ROOT / ".venv/bin/gunicorn"), "-k", "gthread", "-w", workers, "--threads", "8",
               "--keep-alive", "75", "-b", f"127.0.0.1:{port}", "bare_fetch_bills:application"]  # fmt: skip
    results: dict[str, list[tuple[float, float, float]]] = {"healthz": [], "fetch_bills": []}
    with running(command, env=env, log=WORK / "gunicorn.log") as server:
        wait_for_http(f"http://127.0.0.1:{port}/healthz")
        for name in results:
            script = WORK / f"{name}.lua"
            script.write_text(
                f'KEY = "{KALEIDOFIN_KEY}"\n' + (LUA / "report.lua").read_text() + (LUA / f"{name}.lua").read_text()
            )
            args = ["--", "200000", "10", "1"] if name == "fetch_bills" else []
            _wrk(port, script, 5, args)  # warm-up: connections, prepared statements
            for _ in range(arguments.repeat):
                server_before, machine_before = tree_cpu_seconds(server.pid), machine_busy_seconds()
                started = time.perf_counter()
                rps = _wrk(port, script, arguments.duration, args)
                elapsed = time.perf_counter() - started
                server_cpu = (tree_cpu_seconds(server.pid) - server_before) / elapsed
                machine_cpu = (machine_busy_seconds() - machine_before) / elapsed
                results[name].append((rps, server_cpu, machine_cpu))
                print(f"  bare {name}: {rps:,.0f} req/s, CPU server {server_cpu:.2f} machine {machine_cpu:.2f}, "
                      f"cost {machine_cpu * 1000 / rps:.3f} ms", flush=True)  # fmt: skip
    lines = [
        "`bench/bare_fetch_bills.py` (see its docstring): fetchBills written with the standard library and psycopg "
        "only, under gunicorn gthread with config/gunicorn.conf.py's workers and threads, `wrk -t1 -c32` with "
        "bench/serve_load.py's script; every run shown. Cost: the machine's CPU per request.",
        "",
        header,
        "",
        "| bare endpoint | runs: req/s (cost) | best cost |",
        "| --- | --- | ---: |",
    ]
    for name, runs in results.items():
        cells = " / ".join(f"{rps:,.0f} ({machine_cpu * 1000 / rps:.3f} ms)" for rps, _, machine_cpu in runs)
        best = min(machine_cpu * 1000 / rps for rps, _, machine_cpu in runs)
        lines.append(f"| {name} | {cells} | {best:.3f} ms |")
    text = "\n".join(lines)
    print(text)
    if not arguments.no_write:
        write_section("Serving: fetchBills with nothing but the standard library and psycopg", text)


def _wrk(port: int, script: Path, seconds: int, args: list[str]) -> float:
    command = ["wrk", "-t1", "-c32", f"-d{seconds}s", "-s", str(script), f"http://127.0.0.1:{port}", *args]
    process = subprocess.run(command, capture_output=True, text=True, check=False)
    data = wrk_report(process.stdout)
    if process.returncode != 0 or data is None:
        sys.exit(f"wrk failed: {process.stdout[-1000:]} {process.stderr[-1000:]}")
    if data["non_2xx_3xx"] > data["requests"] * 0.2:
        sys.exit(f"the bare app answered {data['codes']}: see {WORK / 'gunicorn.log'}")
    return data["requests"] / (data["duration_us"] / 1e6)


if __name__ == "__main__":
    main()
