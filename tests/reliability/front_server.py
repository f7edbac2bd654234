"""nginx running the shipped deploy/nginx/biller-server.conf in front of a live API, on loopback ports.

The file is used as shipped except for two lines: the API's address (``server api:8000;``) and the port nginx
listens on (``listen 8080;``). Each must be in the file exactly once, so a change to them fails the tests here
rather than testing something else. nginx runs in the foreground under a temporary prefix, never as a service.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import requests

from tests.reliability.live import free_port

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CONF = ROOT / "deploy" / "nginx" / "biller-server.conf"
UPSTREAM_LINE = "server api:8000;"
LISTEN_LINE = "listen 8080;"


def nginx_binary() -> str | None:
    """Debian's nginx (apt-get install nginx; .ci/run installs it): on PATH, or in /usr/sbin for a non-root PATH."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def site_config(api_port: int, port: int) -> str:
    text = SHIPPED_CONF.read_text()
    for line in (UPSTREAM_LINE, LISTEN_LINE):
        if text.count(line) != 1:
            raise AssertionError(f"{SHIPPED_CONF} must contain {line!r} exactly once (the tests rewrite it)")
    return text.replace(UPSTREAM_LINE, f"server 127.0.0.1:{api_port};").replace(
        LISTEN_LINE, f"listen 127.0.0.1:{port};"
    )


class FrontServer:
    """``nginx`` as a child process: the shipped site in an ``http`` block of a minimal nginx.conf of our own."""

    def __init__(self, api_port: int, workdir: Path, *, worker_connections: int = 1024) -> None:
        self.binary = nginx_binary()
        if self.binary is None:
            raise RuntimeError("nginx is not installed (apt-get install -y nginx)")
        self.api_port = api_port
        self.workdir = workdir
        self.worker_connections = worker_connections
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.error_log = workdir / "error.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15) -> FrontServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "biller-server.conf").write_text(site_config(self.api_port, self.port))
        # As root, nginx's workers would switch to `nobody`, who cannot enter a private temporary folder.
        user = "user root;" if os.geteuid() == 0 else ""
        (self.workdir / "nginx.conf").write_text(
            f"""daemon off;
{user}
worker_processes 1;
pid {self.workdir}/nginx.pid;
error_log {self.error_log} info;
events {{ worker_connections {self.worker_connections}; }}
http {{
    access_log {self.workdir}/access.log;
    include {self.workdir}/biller-server.conf;
}}
"""
        )
        command = [self.binary, "-p", str(self.workdir), "-e", str(self.error_log), "-c", "nginx.conf"]
        with (self.workdir / "nginx.out").open("ab") as out:
            self.process = subprocess.Popen(command, cwd=self.workdir, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.process.returncode}; see {self.error_log}")
            try:
                requests.get(f"{self.base_url}/healthz", timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"nginx did not listen on {self.port} in {timeout} s; see {self.error_log}")

    def __enter__(self) -> FrontServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # fast shutdown: stalled test clients are not waited for
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
