"""``serve`` empties PROMETHEUS_MULTIPROC_DIR at start: only prometheus-client's files, and never a directory that
holds our own (the instance folder, named by mistake, holds the SQLite database)."""

import os
import subprocess
import sys

import pytest

from biller_server.cli import serve as serve_module
from biller_server.cli.serve import serve_command
from biller_server.instruments import NotAMetricsDirectory, prepare_multiprocess_dir

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
        monkeypatch.setattr(serve_module.GunicornServer, "run", lambda self: pytest.fail("gunicorn started"))
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

        result = app.test_cli_runner().invoke(serve_command, ["--no-worker"])

        assert result.exit_code == 1
        assert "Error: PROMETHEUS_MULTIPROC_DIR=" in result.output
        assert "biller.sqlite3" in result.output and "refusing to empty it" in result.output
        assert database.read_bytes() == b"SQLite format 3\0 the books"
