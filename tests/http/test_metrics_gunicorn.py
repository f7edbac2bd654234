"""``/metrics`` under a real gunicorn with two workers: every worker's requests are counted, and summed."""

import glob
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from biller_server.cli import serve as serve_module
from biller_server.cli.serve import GunicornServer, serve_command
from biller_server.http.gunicorn_logging import LOGGER_CLASS
from biller_server.http.gunicorn_worker import WORKER_CLASS
from tests.reliability.live import free_port

ROOT = Path(__file__).resolve().parents[2]


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthz_count(family_samples):
    return sum(
        sample.value
        for sample in family_samples
        if sample.name == "biller_http_requests_total"
        and sample.labels.get("endpoint") == "/healthz"
        and sample.labels.get("status") == "200"
    )


@pytest.fixture(params=["directory given", "default directory"])
def server(tmp_path, request):
    port = _free_port()
    metrics_dir = tmp_path / "prometheus"  # the default: <BILLER_INSTANCE_DIR>/prometheus
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left over from the last run")
    environment = {
        **os.environ,
        "BILLER_ENV": "test",
        "BILLER_DATABASE_URL": f"sqlite:///{tmp_path / 'biller.sqlite3'}",
        "BILLER_INSTANCE_DIR": str(tmp_path),
        "BILLER_LOG_LEVEL": "WARNING",
    }
    # Without the variable, serve sets it itself after its imports: prometheus-client starts in memory and its
    # values must move to files in the workers (the deployment commands in docs/operations.md set nothing).
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if request.param == "directory given":
        environment["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from biller_server.cli import main; main()",
            "serve",
            "--no-worker",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--gunicorn-config",
            str(ROOT / "config" / "gunicorn.conf.py"),
        ],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"serve did not start:\n{(tmp_path / 'serve.log').read_text()}")
            time.sleep(0.1)
        yield url, metrics_dir, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_metrics_add_up_the_requests_of_both_workers(server):
    url, metrics_dir, process = server
    assert not (metrics_dir / "counter_999999.db").exists()  # serve emptied the directory it was given
    sent = 1  # the readiness probe

    def hit(_):
        # A new connection each time, so the two workers share the requests.
        return requests.get(f"{url}/healthz", headers={"Connection": "close"}, timeout=5).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        for _ in range(40):
            assert set(pool.map(hit, range(16))) == {200}
            sent += 16
            if len(glob.glob(str(metrics_dir / "counter_*.db"))) >= 2:
                break
    files = sorted(glob.glob(str(metrics_dir / "counter_*.db")))
    assert len(files) == 2, "both workers should have answered some requests"

    response = requests.get(f"{url}/metrics", timeout=5)

    assert response.status_code == 200
    samples = [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]
    assert _healthz_count(samples) == sent
    per_worker = [
        _healthz_count([s for metric in MultiProcessCollector.merge([file]) for s in metric.samples]) for file in files
    ]
    assert all(count > 0 for count in per_worker) and sum(per_worker) == sent
    histogram_count = sum(
        s.value
        for s in samples
        if s.name == "biller_http_request_duration_seconds_count" and s.labels.get("endpoint") == "/healthz"
    )
    assert histogram_count == sent
    assert any(s.name == "biller_database_up" and s.value == 1 for s in samples)

    # The database pools are reported from the workers' own files (the scrape above used one), never from serve's
    # parent process, whose pool ran the migrations before the fork: one pool's figures per worker that used it.
    again = requests.get(f"{url}/metrics", timeout=5).text
    pool = {
        (s.name, s.labels.get("state")): s.value
        for family in text_string_to_metric_families(again)
        for s in family.samples
        if s.name.startswith("biller_db_pool_")
    }
    assert pool[("biller_db_pool_max_connections", None)] in (15, 30)  # SQLAlchemy's 5 + 10 for a SQLite file
    assert pool[("biller_db_pool_connections", "idle")] >= 1
    assert pool[("biller_db_pool_connections", "in_use")] == 0

    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0


def test_the_config_files_settings_apply_and_flags_given_win():
    config = GunicornServer({"config_file": str(ROOT / "config" / "gunicorn.conf.py"), "workers": 3}).cfg

    assert config.workers == 3  # given on the command line
    assert (config.worker_class_str, config.threads, config.timeout, config.graceful_timeout) == (
        WORKER_CLASS,
        8,
        30,
        30,
    )
    assert (config.keepalive, config.max_requests, config.max_requests_jitter) == (75, 100_000, 10_000)
    assert config.child_exit.__name__ == "child_exit" and config.child_exit.__module__ != "gunicorn.config"


class TestServeOptions:
    @pytest.fixture
    def settings_overrides(self, tmp_path):
        return {"instance_dir": tmp_path}

    @pytest.fixture
    def captured(self, monkeypatch):
        options = {}
        monkeypatch.setattr(serve_module, "upgrade", lambda engine: None)
        monkeypatch.setattr(serve_module.GunicornServer, "run", lambda self, *_, **__: None)
        monkeypatch.setattr(serve_module.GunicornServer, "__init__", lambda self, o: options.update(o))
        return options

    def test_with_a_config_file_only_the_flags_given_override_it(self, app, captured, tmp_path, monkeypatch):
        monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
        config_file = str(ROOT / "config" / "gunicorn.conf.py")
        result = app.test_cli_runner().invoke(
            serve_command,
            ["--no-worker", "--gunicorn-config", config_file, "--threads", "4", "--port", str(free_port())],
        )

        assert result.exit_code == 0, result.output
        assert captured["threads"] == 4
        assert not {"workers", "timeout", "graceful_timeout", "worker_class"} & set(captured)
        assert (tmp_path / "prometheus").is_dir()  # the multiprocess directory, under the instance folder
        assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ  # set only while serving

    def test_without_one_the_flags_defaults_apply(self, app, captured):
        result = app.test_cli_runner().invoke(serve_command, ["--no-worker", "--port", str(free_port())])

        assert result.exit_code == 0, result.output
        assert (captured["workers"], captured["threads"], captured["worker_class"]) == (2, 8, WORKER_CLASS)
        assert captured["logger_class"] == LOGGER_CLASS  # gunicorn's own lines as JSON
