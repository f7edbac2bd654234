"""``biller-server serve``: migrate, then run the API under gunicorn."""

from __future__ import annotations

import os
import runpy
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
from biller_server.extensions import get_db, get_settings
from biller_server.http.gunicorn_worker import WORKER_CLASS
from biller_server.instruments import MULTIPROC_ENV, prepare_multiprocess_dir, use_multiprocess_values
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
    """Apply pending migrations, then serve the API under gunicorn (with one confirmation worker beside it)."""
    database = get_db()
    assert database.engine is not None
    upgrade(database.engine)
    database.dispose()  # the workers open their own connections after the fork
    settings = get_settings()
    # Prometheus multiprocess mode (docs/operations.md): every gunicorn worker and the worker process beside them
    # write their metrics to this directory, emptied now, and /metrics adds them up. Set before any child starts.
    metrics_dir = os.environ.get(MULTIPROC_ENV) or str(settings.instance_dir / "prometheus")
    metrics_dir = str(prepare_multiprocess_dir(Path(metrics_dir)))
    current_app.logger.info("serving on %s:%s (metrics in %s)", host, port, metrics_dir)
    options: dict[str, Any] = {
        "config_file": gunicorn_config,
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": WORKER_CLASS,
        "timeout": timeout,
        "graceful_timeout": 30,
        "accesslog": None,  # the app writes its own JSON access line per request
        "loglevel": settings.log_level.lower(),
    }
    if gunicorn_config:
        # The file decides what no flag on the command line says (the flags' defaults would otherwise win).
        context = click.get_current_context()
        for name in ("workers", "threads", "timeout"):
            if context.get_parameter_source(name) is ParameterSource.DEFAULT:
                del options[name]
        del options["worker_class"], options["graceful_timeout"]
    previous_metrics_dir = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = metrics_dir
    worker: subprocess.Popen[bytes] | None = None
    try:
        if not no_worker:
            worker = start_worker_process()
        GunicornServer(options).run()
    finally:
        if worker is not None:
            stop_worker_process(worker, grace_seconds=settings.worker_lease_seconds)
        _restore_env(MULTIPROC_ENV, previous_metrics_dir)


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def start_worker_process(**popen_options: Any) -> subprocess.Popen[bytes]:
    """Run `biller-server worker` as a child: its own process, so a stuck partner call never touches the API."""
    command = [sys.executable, "-c", "from biller_server.cli import main; main()", "worker"]
    # The worker exits by itself if this process dies without stopping it (e.g. SIGKILL).
    return subprocess.Popen([*command, "--parent-pid", str(os.getpid())], **popen_options)  # noqa: S603


def stop_worker_process(worker: subprocess.Popen[bytes], *, grace_seconds: float) -> None:
    """SIGTERM lets the worker finish the job in hand; it is killed only if it outlasts its lease."""
    if worker.poll() is not None:
        return
    worker.terminate()
    try:
        worker.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
