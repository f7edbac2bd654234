"""The connection pool's figures: connections in use, idle and in overflow, waits for a connection, timeouts."""

import threading
import time

import pytest

from biller_server.instruments import INSTRUMENTS
from biller_server.persistence import pool as pool_module
from biller_server.persistence.database import create_engine_for, create_sqlite_file
from tests.conftest import make_settings


def figure(name, **labels):
    return INSTRUMENTS.get_sample_value(name, labels) or 0.0


@pytest.fixture
def small_pool(postgres_url):
    """PostgreSQL with a pool of one connection plus one overflow, giving up after 0.3 s."""
    engine = create_engine_for(make_settings(postgres_url, database_pool_size=1, database_pool_timeout_seconds=0.3))
    yield engine
    engine.dispose()


def test_connections_are_reported_in_use_idle_and_in_overflow(small_pool):
    first = small_pool.connect()
    second = small_pool.connect()

    assert figure("biller_db_pool_connections", dialect="postgresql", state="in_use") == 2
    assert figure("biller_db_pool_overflow_connections", dialect="postgresql") == 1
    assert figure("biller_db_pool_max_connections", dialect="postgresql") == 2

    second.close()  # the overflow connection is closed, not kept
    first.close()

    assert figure("biller_db_pool_connections", dialect="postgresql", state="in_use") == 0
    assert figure("biller_db_pool_connections", dialect="postgresql", state="idle") == 1
    assert figure("biller_db_pool_overflow_connections", dialect="postgresql") == 0


def test_a_checkout_that_waits_for_a_returned_connection_is_counted_with_its_wait(small_pool):
    held = [small_pool.connect(), small_pool.connect()]
    waits = figure("biller_db_pool_waits_total", dialect="postgresql")
    waited = figure("biller_db_pool_wait_seconds_total", dialect="postgresql")
    timer = threading.Timer(0.1, held.pop().close)  # returned while the next checkout waits

    timer.start()
    with small_pool.connect():
        pass
    timer.join()
    held.pop().close()

    assert figure("biller_db_pool_waits_total", dialect="postgresql") == waits + 1
    assert figure("biller_db_pool_wait_seconds_total", dialect="postgresql") - waited >= 0.05


def test_a_checkout_that_gives_up_is_counted_as_a_timeout_and_a_wait(small_pool):
    held = [small_pool.connect(), small_pool.connect()]
    timeouts = figure("biller_db_pool_timeouts_total", dialect="postgresql")
    waits = figure("biller_db_pool_waits_total", dialect="postgresql")

    started = time.perf_counter()
    with pytest.raises(Exception, match="QueuePool limit"):
        small_pool.connect()
    for connection in held:
        connection.close()

    assert time.perf_counter() - started >= 0.3
    assert figure("biller_db_pool_timeouts_total", dialect="postgresql") == timeouts + 1
    assert figure("biller_db_pool_waits_total", dialect="postgresql") == waits + 1


def test_a_checkout_with_connections_to_spare_is_no_wait(small_pool):
    waits = figure("biller_db_pool_waits_total", dialect="postgresql")

    with small_pool.connect(), small_pool.connect():
        pass

    assert figure("biller_db_pool_waits_total", dialect="postgresql") == waits


def test_a_sqlite_file_reports_its_pool_too(tmp_path):
    create_sqlite_file(f"sqlite:///{tmp_path / 'pool.sqlite3'}")
    engine = create_engine_for(make_settings(f"sqlite:///{tmp_path / 'pool.sqlite3'}"))

    with engine.connect():
        assert figure("biller_db_pool_connections", dialect="sqlite", state="in_use") >= 1
        assert figure("biller_db_pool_max_connections", dialect="sqlite") == 15  # SQLAlchemy's 5 + 10 for files
    engine.dispose()


def test_a_figure_that_cannot_be_recorded_never_costs_a_checkout(tmp_path, monkeypatch, caplog):
    create_sqlite_file(f"sqlite:///{tmp_path / 'pool.sqlite3'}")
    engine = create_engine_for(make_settings(f"sqlite:///{tmp_path / 'pool.sqlite3'}"))

    def broken(*_labels):
        raise TypeError("no metrics directory")

    monkeypatch.setattr(pool_module.DB_POOL_MAX, "labels", broken)
    monkeypatch.setattr(pool_module, "_report_failed", False)

    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    engine.dispose()
    assert "database pool figures could not be recorded" in caplog.text


def test_the_pool_logs_in_sqlalchemys_namespace_not_ours(tmp_path):
    # The application logs biller_server.* at INFO: the pool's own chatter must not show there.
    engine = create_engine_for(make_settings(f"sqlite:///{tmp_path / 'pool.sqlite3'}"))

    assert engine.pool.logger.name.startswith("sqlalchemy.pool.")
    engine.dispose()
