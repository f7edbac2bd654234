"""``biller-server serve``: migrate, then run the API under gunicorn with a supervised confirmation worker beside it."""

from __future__ import annotations

import errno
import os
import runpy
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from flask import current_app
from flask.cli import with_appcontext
from gunicorn.app.base import BaseApplication

from biller_server.app import create_app
from biller_server.cli.problems import CommandProblem, require_production_settings
from biller_server.cli.supervision import WorkerSupervisor, run_arbiter
from biller_server.extensions import get_db, get_settings
from biller_server.http.gunicorn_logging import LOGGER_CLASS
from biller_server.http.gunicorn_worker import WORKER_CLASS
from biller_server.instruments import (
    MULTIPROC_ENV,
    claim_multiprocess_dir,
    prepare_multiprocess_dir,
    use_multiprocess_values,
)
from biller_server.persistence.migrate import upgrade


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """Gunicorn with our options; each worker process builds its own app (and so its own database pool)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        config_file = self.options.pop("config_file", None)
        if config_file:
            # BaseApplication has no load_config_from_file (gunicorn's Application, which parses sys.argv, has).
            for key, value in runpy.run_path(config_file).items():
                if key in self.cfg.settings:
                    self.cfg.set(key.lower(), value)
        for key, value in self.options.items():
            if value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        use_multiprocess_values()  # in the forked worker, before any metric value exists
        return create_app()

    def run(self, supervisor: WorkerSupervisor | None = None, *, stop_grace_seconds: float = 120.0) -> None:
        try:
            run_arbiter(self, supervisor, stop_grace_seconds=stop_grace_seconds)
        except RuntimeError as exc:  # gunicorn's way of saying it cannot start (as its own run() prints it)
            raise CommandProblem(str(exc)) from None


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256), help="Threads per worker.")
@click.option("--timeout", default=30, show_default=True, type=int, help="Seconds before a hung worker is killed.")
@click.option(
    "--gunicorn-config",
    type=click.Path(exists=True, dir_okay=False),
    help="A gunicorn configuration file (e.g. config/gunicorn.conf.py); flags above win.",
)
@click.option(
    "--no-worker",
    is_flag=True,
    help="Do not run the confirmation worker beside the API (run `biller-server worker` elsewhere).",
)
@with_appcontext
def serve_command(
    host: str, port: int, workers: int, threads: int, timeout: int, gunicorn_config: str | None, no_worker: bool
) -> None:
    """Apply pending migrations, then serve the API under gunicorn, with a confirmation worker beside it that is
    restarted (with back-off) if it dies."""
    settings = get_settings()
    require_production_settings(settings)
    # Prometheus multiprocess mode (docs/operations.md): every gunicorn worker and the worker process beside them
    # write their metrics to this directory, and /metrics adds them up. Claimed before anything else is done, so a
    # second serve started by mistake stops here, leaving the running one's metrics alone.
    metrics_dir = Path(os.environ.get(MULTIPROC_ENV) or settings.instance_dir / "prometheus")
    lock = claim_multiprocess_dir(metrics_dir)
    try:
        _check_port_is_free(host, port)
        database = get_db()
        assert database.engine is not None
        upgrade(database.engine)
        database.dispose()  # the workers open their own connections after the fork
        metrics_dir = prepare_multiprocess_dir(metrics_dir)
        current_app.logger.info("serving on %s:%s (metrics in %s)", host, port, metrics_dir)
        options = _gunicorn_options(host, port, workers, threads, timeout, gunicorn_config, settings.log_level)
        previous_metrics_dir = os.environ.get(MULTIPROC_ENV)
        os.environ[MULTIPROC_ENV] = str(metrics_dir)  # before any child starts
        try:
            supervisor = None if no_worker else WorkerSupervisor(lambda: start_worker_process(name=_worker_name(port)))
            GunicornServer(options).run(supervisor, stop_grace_seconds=settings.worker_lease_seconds)
        finally:
            _restore_env(MULTIPROC_ENV, previous_metrics_dir)
    finally:
        lock.close()


def _gunicorn_options(
    host: str, port: int, workers: int, threads: int, timeout: int, gunicorn_config: str | None, log_level: str
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "config_file": gunicorn_config,
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": WORKER_CLASS,
        "timeout": timeout,
        "graceful_timeout": 30,
        "accesslog": None,  # the app writes its own JSON access line per request
        "logger_class": LOGGER_CLASS,  # gunicorn's own lines as JSON too
        "loglevel": log_level.lower(),
    }
    if gunicorn_config:
        # The file decides what no flag on the command line says (the flags' defaults would otherwise win).
        context = click.get_current_context()
        for name in ("workers", "threads", "timeout"):
            if context.get_parameter_source(name) is ParameterSource.DEFAULT:
                del options[name]
        del options["worker_class"], options["graceful_timeout"]
    return options


def _check_port_is_free(host: str, port: int) -> None:
    """Fail in one line, before migrating or starting anything, when the address is taken (gunicorn would retry
    for five seconds, then stop with a page of log lines)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandProblem(
                    f"{host}:{port} is in use: is biller-server serve already running there? "
                    "(`biller-server status`; or choose another --port)"
                ) from None
            raise CommandProblem(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _worker_name(port: int) -> str:
    """The name of serve's worker in its heartbeat: the same across its restarts, so a restarted worker continues
    the row of the one it replaces (and this host and port tell it apart from any other serve's)."""
    return f"{socket.gethostname()}:serve-{port}"


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def start_worker_process(*, name: str | None = None, **popen_options: Any) -> subprocess.Popen[bytes]:
    """Run `biller-server worker` as a child: its own process, so a stuck partner call never touches the API."""
    command = [sys.executable, "-c", "from biller_server.cli import main; main()", "worker"]
    if name is not None:
        command += ["--name", name]
    # The worker exits by itself if this process dies without stopping it (e.g. SIGKILL).
    return subprocess.Popen([*command, "--parent-pid", str(os.getpid())], **popen_options)  # noqa: S603
