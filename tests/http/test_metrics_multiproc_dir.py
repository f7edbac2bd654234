"""``serve`` empties PROMETHEUS_MULTIPROC_DIR at start: only prometheus-client's files, and never a directory that
holds our own (the instance folder, named by mistake, holds the SQLite database)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from biller_server.cli import serve as serve_module
from biller_server.cli.serve import serve_command
from biller_server.instruments import (
    MetricsDirectoryInUse,
    NotAMetricsDirectory,
    claim_multiprocess_dir,
    prepare_multiprocess_dir,
)

PROMETHEUS_FILES = [
    "counter_4242.db",
    "histogram_4242.db",
    "summary_4242.db",
    "gauge_all_4242.db",
    "gauge_livesum_4243.db",
    "gauge_mostrecent_4244.db",
]


def test_real_prometheus_files_are_named_as_expected(tmp_path):
    # The names come from prometheus-client itself: a counter and a histogram written in multiprocess mode.
    code = (
        "from prometheus_client import Counter, Gauge, Histogram\n"
        "Counter('c', 'c').inc(); Histogram('h', 'h').observe(1); Gauge('g', 'g', multiprocess_mode='livesum').set(1)\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    written = sorted(path.name for path in tmp_path.iterdir())
    assert written and all(name.split("_")[0] in ("counter", "histogram", "gauge") for name in written), written

    prepare_multiprocess_dir(tmp_path)

    assert list(tmp_path.iterdir()) == []


def test_only_prometheus_files_are_deleted(tmp_path):
    for name in PROMETHEUS_FILES:
        (tmp_path / name).write_bytes(b"\0" * 16)
    (tmp_path / "README").write_text("kept")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "counter_1.db").write_bytes(b"")  # in a subdirectory: not prometheus-client's

    assert prepare_multiprocess_dir(tmp_path) == tmp_path.resolve()

    assert sorted(path.name for path in tmp_path.iterdir()) == ["README", "notes"]
    assert (tmp_path / "notes" / "counter_1.db").exists()


def test_a_missing_directory_is_created(tmp_path):
    assert prepare_multiprocess_dir(tmp_path / "a" / "prometheus").is_dir()


@pytest.mark.parametrize(
    "ours", ["biller.sqlite3", "biller.sqlite3-wal", "biller.sqlite3-journal", "data.sqlite", "payments.db"]
)
def test_a_directory_holding_our_files_is_refused_and_nothing_is_deleted(tmp_path, ours):
    (tmp_path / ours).write_bytes(b"SQLite format 3\0")
    (tmp_path / "counter_4242.db").write_bytes(b"\0" * 16)

    with pytest.raises(NotAMetricsDirectory, match=f"not prometheus-client's \\({ours}\\)"):
        prepare_multiprocess_dir(tmp_path)

    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([ours, "counter_4242.db"])


def test_a_file_is_refused(tmp_path):
    (tmp_path / "biller.sqlite3").write_bytes(b"SQLite format 3\0")
    with pytest.raises(NotAMetricsDirectory, match="is not a directory"):
        prepare_multiprocess_dir(tmp_path / "biller.sqlite3")


class TestServe:
    @pytest.fixture
    def settings_overrides(self, tmp_path):
        return {"instance_dir": tmp_path}

    def test_serve_pointed_at_the_instance_folder_stops_with_a_clear_error(self, app, tmp_path, monkeypatch):
        database = tmp_path / "biller.sqlite3"
        database.write_bytes(b"SQLite format 3\0 the books")
        monkeypatch.setattr(serve_module, "upgrade", lambda engine: None)
        monkeypatch.setattr(serve_module.GunicornServer, "run", lambda *_, **__: pytest.fail("gunicorn started"))
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

        result = app.test_cli_runner().invoke(serve_command, ["--no-worker"])

        assert result.exit_code == 1
        assert "Error: PROMETHEUS_MULTIPROC_DIR=" in result.output
        assert "biller.sqlite3" in result.output and "refusing to empty it" in result.output
        assert database.read_bytes() == b"SQLite format 3\0 the books"
        assert sorted(path.name for path in tmp_path.iterdir()) == ["biller.sqlite3"]  # not even a lock file


class TestASecondServe:
    """Started by mistake beside a running one: it must stop before it touches the running server's metrics."""

    def test_a_held_directory_is_refused_and_left_as_it_is(self, tmp_path):
        held = claim_multiprocess_dir(tmp_path)
        (tmp_path / "counter_4242.db").write_bytes(b"\0" * 16)
        try:
            with pytest.raises(MetricsDirectoryInUse, match=f"running \\(pid {os.getpid()}\\)"):
                claim_multiprocess_dir(tmp_path)
        finally:
            held.close()

        assert (tmp_path / "counter_4242.db").exists()

    def test_the_directory_is_free_again_once_its_server_is_gone(self, tmp_path):
        claim_multiprocess_dir(tmp_path).close()

        claim_multiprocess_dir(tmp_path).close()

    def test_a_second_serve_stops_in_one_line_before_migrating_or_emptying(self, tmp_path):
        """Two real processes: the first holds the folder as a running serve does (its gunicorn workers share it)."""
        code = (
            "import sys, time; from pathlib import Path; from biller_server.instruments import claim_multiprocess_dir\n"
            "held = claim_multiprocess_dir(Path(sys.argv[1])); print('held', flush=True); time.sleep(60)\n"
        )
        metrics = tmp_path / "prometheus"
        first = subprocess.Popen([sys.executable, "-c", code, str(metrics)], stdout=subprocess.PIPE, text=True)
        try:
            assert first.stdout.readline() == "held\n"
            (metrics / "counter_4242.db").write_bytes(b"\0" * 16)  # the running server's counters
            env = {
                **{key: value for key, value in os.environ.items() if not key.startswith("BILLER_")},
                "BILLER_ENV": "test",
                "BILLER_INSTANCE_DIR": str(tmp_path),
                "BILLER_DATABASE_URL": f"sqlite:///{tmp_path / 'second.sqlite3'}",
            }
            second = subprocess.run(
                [str(Path(sys.executable).parent / "biller-server"), "serve", "--port", "1"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        finally:
            first.kill()
            first.wait()
            first.stdout.close()

        assert second.returncode == 1
        assert second.stderr == (
            f"Error: PROMETHEUS_MULTIPROC_DIR={metrics} belongs to a biller-server serve that is running "
            f"(pid {first.pid}): is it already running? Stop it first, or give this one its own "
            "BILLER_INSTANCE_DIR (or PROMETHEUS_MULTIPROC_DIR)\n"
        )
        assert (metrics / "counter_4242.db").exists()
        assert not (tmp_path / "second.sqlite3").exists()  # nor was anything migrated
