"""Slow clients: how long other callers wait while many connections stall in the middle of their request.

``--clients`` connections (200) each send a fetchBills request's headers and the first byte of its 100-byte
body, then stall; any the server closes is opened and stalled again at once, so that many are held for the
whole run. Meanwhile two probes, one after another each: ``GET /healthz`` and a valid ``POST /bills/fetchBills``,
timed. Twice, on a fresh database with one customer:

1. ``biller-server serve --gunicorn-config config/gunicorn.conf.py`` alone (production mode; gthread workers whose
   reads are bounded by BILLER_REQUEST_HEADER_TIMEOUT_SECONDS / BILLER_REQUEST_BODY_TIMEOUT_SECONDS, 10 s);
2. the same, behind nginx running deploy/nginx/biller-server.conf (docs/operations.md's deployment), started as
   the tests start it (tests/reliability/front_server.py).

    .venv/bin/python bench/slow_clients.py [--clients 200] [--seconds 60] [--no-write]

Needs nginx (``apt-get install -y nginx``). Writes the "Slow clients" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import (
    BILLER,
    DATA,
    KALEIDOFIN_KEY,
    ROOT,
    database_url,
    machine,
    production_env,
    recreate_database,
    running,
    wait_for_http,
    write_section,
)

sys.path.insert(0, str(ROOT))

# The tests' helpers, so that the bench runs nginx and writes requests exactly as the tests do.
from biller_server.persistence.database import create_engine_for
from tests.conftest import make_settings
from tests.factories import BillFactory
from tests.reliability.conftest import seed
from tests.reliability.front_server import FrontServer
from tests.reliability.live import free_port
from tests.reliability.wire import exchange, request_head

DATABASE = "biller_bench_slow_clients"
FETCH_BILLS = b'[{"identifierKey": "customerId", "identifierValue": "SLOW-1"}]'


@dataclass
class Probe:
    name: str
    seconds: list[float] = field(default_factory=list)
    failures: int = 0


class StalledClients:
    """Keeps ``count`` connections stalled in the middle of their body, opening a new one for each one closed."""

    def __init__(self, port: int, count: int) -> None:
        self.port, self.count = port, count
        self.selector = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.reopened = 0
        self.held: list[int] = []
        self.thread = threading.Thread(target=self._run)
        self.stall = request_head("POST", "/bills/fetchBills", "Content-Length: 100", key=KALEIDOFIN_KEY) + b"["

    def __enter__(self) -> StalledClients:
        for _ in range(self.count):
            self._open()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()

    def _open(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.sendall(self.stall)
        self.selector.register(sock, selectors.EVENT_READ)

    def _run(self) -> None:
        while not self.stop.is_set():
            for key, _ in self.selector.select(timeout=0.2):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                self.selector.unregister(sock)
                sock.close()  # answered (408) or dropped: the attacker comes straight back
                try:
                    self._open()
                    self.reopened += 1
                except OSError:
                    pass  # refused for now: the count held shows it
            self.held.append(len(self.selector.get_map()))


def probe(run: Probe, call, stop: threading.Event) -> None:  # type: ignore[no-untyped-def]
    while not stop.is_set():
        started = time.monotonic()
        try:
            ok = call()
        except OSError:
            ok = False
        if ok:
            run.seconds.append(time.monotonic() - started)
        else:
            run.failures += 1
        stop.wait(0.5)


def measure(port: int, clients: int, seconds: float) -> tuple[list[Probe], StalledClients]:
    health, fetch = Probe("/healthz"), Probe("fetchBills")
    fetch_request = (
        request_head("POST", "/bills/fetchBills", f"Content-Length: {len(FETCH_BILLS)}", key=KALEIDOFIN_KEY)
        + FETCH_BILLS
    )
    stop = threading.Event()
    with StalledClients(port, clients) as attack:
        time.sleep(2)  # every stalled request has reached the server
        threads = [
            threading.Thread(
                target=probe,
                args=(health, lambda: exchange(port, request_head("GET", "/healthz"), timeout=300).status == 200, stop),
            ),
            threading.Thread(
                target=probe, args=(fetch, lambda: exchange(port, fetch_request, timeout=300).status == 200, stop)
            ),
        ]
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join()  # the probes in flight finish while the attack still holds its connections
    return [health, fetch], attack


def row(deployment: str, attack: StalledClients, probe: Probe) -> str:
    held = f"{min(attack.held)}-{max(attack.held)}" if attack.held else "-"
    if not probe.seconds:
        return f"| {deployment} | {held} | {probe.name} | 0 | {probe.failures} | - | - |"
    median = statistics.median(probe.seconds)
    return (
        f"| {deployment} | {held} | {probe.name} | {len(probe.seconds)} | {probe.failures} | "
        f"{median * 1000:,.0f} ms | {max(probe.seconds) * 1000:,.0f} ms |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--no-write", action="store_true", help="print the section, do not write bench/RESULTS.md")
    arguments = parser.parse_args()

    header = machine()
    recreate_database(DATABASE)
    url = database_url(DATABASE)
    env = production_env(url, BILLER_LOG_LEVEL="WARNING")
    port = free_port()
    serve = [str(BILLER), "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)]
    serve += ["--gunicorn-config", str(ROOT / "config" / "gunicorn.conf.py")]
    rows = []
    with running(serve, env=env, log=DATA / "slow_clients" / "serve.log"):
        wait_for_http(f"http://127.0.0.1:{port}/healthz")
        engine = create_engine_for(make_settings(url))
        seed(engine, lambda: BillFactory(customer__lender_customer_id="SLOW-1"))
        engine.dispose()

        print(f"serve alone: {arguments.clients} stalled clients for {arguments.seconds:.0f} s", flush=True)
        probes, attack = measure(port, arguments.clients, arguments.seconds)
        rows += [row("`serve` alone", attack, probe) for probe in probes]
        print("\n".join(rows[-2:]), flush=True)

        with FrontServer(port, Path(tempfile.mkdtemp(prefix="bench-nginx-"))) as front:
            print(f"behind nginx: {arguments.clients} stalled clients for {arguments.seconds:.0f} s", flush=True)
            probes, attack = measure(front.port, arguments.clients, arguments.seconds)
            rows += [row("nginx in front", attack, probe) for probe in probes]
            print("\n".join(rows[-2:]), flush=True)

    command = f"bench/slow_clients.py --clients {arguments.clients} --seconds {arguments.seconds:.0f}"
    section = f"""Measured {header}. `{command}`: {arguments.clients} connections that send a fetchBills request's
headers and the first byte of its body, then stall, each reopened as soon as the server closes it; meanwhile
`GET /healthz` and a valid fetchBills, one after the other, every 0.5 s, for {arguments.seconds:.0f} s. `serve`
runs config/gunicorn.conf.py (4 gthread workers x 8 threads on this machine) in production mode with the default
read deadlines (10 s); nginx runs deploy/nginx/biller-server.conf as shipped. "held": stalled connections open at
each look (every 0.2 s).

| deployment | held | probe | answered | failed | median | worst |
| --- | --- | --- | ---: | ---: | ---: | ---: |
{chr(10).join(rows)}

`serve` alone cuts each stalled connection at its 10 s deadline, but 200 that reconnect as soon as they are cut keep
all its threads busy, and a probe waits in a worker's queue behind them; behind nginx the stalled connections never
reach gunicorn.
"""
    print(section)
    if not arguments.no_write:
        write_section("Slow clients", section)
        print("wrote the Slow clients section of bench/RESULTS.md")


if __name__ == "__main__":
    main()
