"""A real biller-server (gunicorn, its workers, the confirmation worker) on a loopback port, for the tests that
need real processes: races through real HTTP, kill -9, and database outages. Plus a TCP proxy that can cut the
path to PostgreSQL, so an outage can be staged without stopping the server other tests share."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import requests
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.conftest import DIGILEDGE_KEY, KALEIDOFIN_KEY, SETU_KEY

BIN = Path(sys.executable).parent / "biller-server"

# What `serve` needs to start with BILLER_ENV=production, beside the two keys LiveServer sets. The status URLs are
# on loopback port 9, where nothing listens: run with with_worker=False, and nothing calls them.
PRODUCTION_ENV = {
    "BILLER_ENV": "production",
    "BILLER_SETU_CONFIRMED_BY": "setu",
    "BILLER_SETU_PAYMENT_STATUS_URL": "http://127.0.0.1:9/status",
    "BILLER_SETU_TOKEN_URL": "http://127.0.0.1:9/api/v2/auth/token",
    "BILLER_SETU_CLIENT_ID": "biller",
    "BILLER_SETU_CLIENT_SECRET": "setu-client-secret",
    "BILLER_SETU_PRODUCT_INSTANCE_ID": "setu-product-instance",
    "BILLER_KALEIDOFIN_CONFIRMED_BY": "kaleidofin",
    "BILLER_KALEIDOFIN_STATUS_URL": "http://127.0.0.1:9/status",
    "BILLER_DIGILEDGE_CONFIRMED_BY": "digiledge",
    "BILLER_DIGILEDGE_PAYMENT_STATUS_URL": "http://127.0.0.1:9/status",
    "BILLER_DIGILEDGE_BILLER_ID": "TESTBILLER01",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def fresh_postgres_database(base_url: str) -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    base = make_url(base_url)
    name = f"biller_live_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # Field 4 (after the parenthesised command) is the parent pid.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class LiveServer:
    """``biller-server serve`` as a subprocess: start, find its processes, kill them, stop."""

    def __init__(
        self,
        database_url: str,
        log_path: Path,
        *,
        workers: int = 2,
        threads: int = 8,
        with_worker: bool = True,
        env: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.log_path = log_path
        self.workers = workers
        self.threads = threads
        self.with_worker = with_worker
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "BILLER_ENV": "test",
            "BILLER_DATABASE_URL": database_url,
            "BILLER_KALEIDOFIN_API_KEY": KALEIDOFIN_KEY,
            "BILLER_DIGILEDGE_API_KEY": DIGILEDGE_KEY,
            "BILLER_SETU_API_KEY": SETU_KEY,
            "BILLER_CHANNELS": "kaleidofin,digiledge,setu",
            "BILLER_SETU_VALIDATE_PAY_ENABLED": "true",
            "BILLER_KALEIDOFIN_CONFIRMED_BY": "fake",
            "BILLER_DIGILEDGE_CONFIRMED_BY": "fake",
            "BILLER_SETU_CONFIRMED_BY": "fake",
            "BILLER_WORKER_LEASE_SECONDS": "3",
            "BILLER_WORKER_POLL_INTERVAL_SECONDS": "0.2",
            "BILLER_LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> LiveServer:
        command = [
            str(BIN),
            "serve",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--timeout",
            "30",
        ]
        if not self.with_worker:
            command.append("--no-worker")
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {self.log_path}")
            try:
                if requests.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not answer /healthz in {timeout} s; see {self.log_path}")

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def api_worker_pids(self) -> list[int]:
        """Gunicorn's workers: forks of the serve process, so the same command line."""
        assert self.process is not None
        return [pid for pid in _children(self.process.pid) if "--parent-pid" not in _cmdline(pid)]

    def confirmation_worker_pids(self) -> list[int]:
        """The `worker` child that serve starts beside gunicorn (it carries --parent-pid)."""
        assert self.process is not None
        return [pid for pid in _children(self.process.pid) if "--parent-pid" in _cmdline(pid)]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def post(self, path: str, body: object, *, key: str, timeout: float = 10) -> requests.Response:
        return requests.post(f"{self.base_url}{path}", json=body, headers={"X-API-Key": key}, timeout=timeout)


class CuttableProxy:
    """A TCP proxy on loopback in front of PostgreSQL. ``cut()`` drops every connection and refuses new ones, as a
    stopped server would; ``restore()`` lets connections through again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._open = threading.Event()
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> CuttableProxy:
        self.restore()
        self._thread.start()
        return self

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(0.2)
        with self._lock:
            self._listener = listener
        self._open.set()

    def cut(self) -> None:
        self._open.clear()
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            for sock in list(self._sockets):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def close(self) -> None:
        self._stopping.set()
        self.cut()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            if not self._open.wait(0.2):
                continue
            with self._lock:
                listener = self._listener
            if listener is None:
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update({client, upstream})
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with suppress(OSError):
                    sock.close()
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(sink)
