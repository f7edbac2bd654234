"""PostgreSQL connections are pinged before use only when they sat idle in the pool (a ping is a round trip)."""

import pytest
import sqlalchemy as sa

from biller_server.persistence import database
from biller_server.persistence.database import create_engine_for
from tests.conftest import make_settings


@pytest.fixture
def pinged(monkeypatch):
    """The engine's pings, counted (the real ping still runs)."""
    calls = []
    real_ping = sa.dialects.postgresql.psycopg.PGDialect_psycopg.do_ping

    def counting_ping(dialect, dbapi_connection):
        calls.append(dbapi_connection)
        return real_ping(dialect, dbapi_connection)

    monkeypatch.setattr(sa.dialects.postgresql.psycopg.PGDialect_psycopg, "do_ping", counting_ping)
    return calls


def _engine(postgres_url, monkeypatch, idle_seconds):
    monkeypatch.setattr(database, "IDLE_BEFORE_PING_SECONDS", idle_seconds)
    return create_engine_for(make_settings(postgres_url, database_pool_size=1))


def _backend_pid(engine):
    with engine.connect() as connection:
        return connection.scalar(sa.text("SELECT pg_backend_pid()"))


def test_a_connection_used_a_moment_ago_is_not_pinged(postgres_url, monkeypatch, pinged):
    engine = _engine(postgres_url, monkeypatch, idle_seconds=60)
    try:
        first, second = _backend_pid(engine), _backend_pid(engine)
    finally:
        engine.dispose()

    assert first == second  # the same pooled connection, handed out twice
    assert pinged == []


def test_a_connection_that_sat_idle_is_pinged_before_use(postgres_url, monkeypatch, pinged):
    engine = _engine(postgres_url, monkeypatch, idle_seconds=0)
    try:
        first, second = _backend_pid(engine), _backend_pid(engine)
    finally:
        engine.dispose()

    assert first == second
    assert len(pinged) == 1  # the second checkout; a new connection is not pinged


def test_an_idle_connection_broken_by_the_server_is_replaced_before_the_request_sees_it(
    postgres_url, monkeypatch, pinged
):
    engine = _engine(postgres_url, monkeypatch, idle_seconds=0)
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        broken = _backend_pid(engine)
        with admin.connect() as connection:
            assert connection.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": broken})

        replacement = _backend_pid(engine)  # no error: the failed ping made the pool connect anew
    finally:
        engine.dispose()
        admin.dispose()

    assert replacement != broken
    assert len(pinged) == 1
