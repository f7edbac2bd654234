"""Engines and sessions for the embedded SQLite default and for PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from biller_server.config import Settings
from biller_server.persistence.pool import instrumented_pool

# Execution option for a transaction that reads the books and writes only TEMP tables (a bill upload's checking,
# a minute for a large file): on SQLite it begins deferred, so it does not hold the write lock partners need.
SQLITE_DEFERRED = "biller_server_sqlite_deferred"


def create_engine_for(settings: Settings, url: str | None = None) -> Engine:
    """Build the engine for ``url`` (default: the configured database) with each backend's safety settings."""
    url = url or settings.resolved_database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, settings)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return _postgresql_engine(parsed, settings)
    raise ValueError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")


def sqlite_file(url: str | sa.URL) -> Path | None:
    """The file of a SQLite database URL (None for any other database, or one in memory)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve()


def create_sqlite_file(url: str | sa.URL) -> None:
    """Create an empty SQLite file (and its folder) if there is none: only migrations do this (``upgrade``)."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        sqlite3.connect(path).close()


def _sqlite_engine(url: str, settings: Settings) -> Engine:
    path = sqlite_file(url)
    timeout = settings.sqlite_busy_timeout_ms / 1000
    options: dict[str, Any] = {}
    if path is not None:
        # Opened read-write, never created: a command run from the wrong folder (cron) must say the database is
        # missing, not make an empty one. Only migrations create the file (create_sqlite_file).
        uri = f"file:{urllib.parse.quote(str(path))}?mode=rw"
        options["creator"] = lambda: sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
        # SQLAlchemy's own choice for a database file (QueuePool), reporting its figures; memory keeps its own.
        options["poolclass"] = instrumented_pool("sqlite")
    engine = sa.create_engine(url, connect_args={"timeout": timeout, "check_same_thread": False}, **options)
    busy_timeout = settings.sqlite_busy_timeout_ms

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so that "begin" below decides how a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        if connection.get_execution_options().get(SQLITE_DEFERRED):
            connection.exec_driver_sql("BEGIN")
            return
        # BEGIN IMMEDIATE takes the write lock up front and waits for it under busy_timeout. A deferred
        # transaction that reads and then writes can fail at once with "database is locked" when another
        # writer got in between; an immediate one queues instead.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _postgresql_engine(url: sa.URL, settings: Settings) -> Engine:
    options = f"-c statement_timeout={settings.database_statement_timeout_ms}"
    engine = sa.create_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_timeout=settings.database_pool_timeout_seconds,
        # The connection used last is handed out first: under load the same few stay busy (and are not pinged,
        # below) while the rest sit idle, rather than every connection sitting just long enough to need a ping.
        pool_use_lifo=True,
        poolclass=instrumented_pool("postgresql"),
        connect_args={"connect_timeout": 2, "options": options, "application_name": "biller-server"},
    )
    _ping_connections_that_sat_idle(engine, IDLE_BEFORE_PING_SECONDS)
    return engine


# A pooled connection unused for this long is pinged before it is handed out.
IDLE_BEFORE_PING_SECONDS = 2.0


def _ping_connections_that_sat_idle(engine: Engine, idle_seconds: float) -> None:
    """SQLAlchemy's ``pool_pre_ping``, but only for connections that sat in the pool for ``idle_seconds``.

    A connection left idle is the one that a database restart, a failover or a firewall's idle timeout breaks
    unseen: it is pinged, and replaced if the ping fails, so the request never sees it. A connection checked in
    a moment ago was working a moment ago; pinging it too cost a round trip on every request and every
    worker transaction under load (bench/RESULTS.md). If one of those breaks all the same (the database went
    down within the last seconds), its statement fails as the database being unavailable (503, or a failed
    worker turn that is tried again), and SQLAlchemy then replaces every older connection of the pool.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checking_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get(_CHECKED_IN_AT)
        if checked_in_at is None or time.monotonic() - checked_in_at < idle_seconds:
            return  # new (it has just connected) or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The server went away: the pool discards this connection and every one older than now (they are as
            # dead, pinged or not), then hands out a new one.
            raise sa.exc.InvalidatePoolError(f"idle connection failed its ping: {exc}") from exc


_CHECKED_IN_AT = "biller_server.checked_in_at"


def statements_commit_alone(session: Session) -> bool:
    """On PostgreSQL, make each of the session's statements commit by itself (autocommit), if it can: a BEGIN and a
    COMMIT fewer, two round trips, for work that is one write, or reads that need no transaction around them.

    Only for a session of its own on an engine (a test's session bound to an outer connection keeps its
    transaction) that has not begun yet, and never on SQLite (whose transactions begin by an event of their own).
    Returns whether it did; the session then commits or rolls back nothing of its own.
    """
    bind = session.get_bind()
    if not isinstance(bind, sa.Engine) or bind.dialect.name != "postgresql" or session.in_transaction():
        return False
    session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return True


class Database:
    """The engine and session factory of one application (or one CLI run, or one worker)."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.sessionmaker: sessionmaker[Session] | None = None

    def configure(self, settings: Settings, url: str | None = None) -> None:
        self.engine = create_engine_for(settings, url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        assert self.engine is not None, "database is not configured"
        return self.engine.dialect.name

    def new_session(self) -> Session:
        assert self.sessionmaker is not None, "database is not configured"
        return self.sessionmaker()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any error."""
        session = self.new_session()
        try:
            with session.begin():
                yield session
        finally:
            session.close()

    @contextmanager
    def dedicated_session(self) -> Iterator[Session]:
        """A session that keeps one connection for its whole life and commits when its user says so.

        For work done in many transactions that needs the same connection throughout (TEMP tables, session
        settings, a PostgreSQL session lock): a bill upload. A sessionmaker already bound to one connection (as
        in tests) gives such sessions as it is.
        """
        assert self.sessionmaker is not None and self.engine is not None, "database is not configured"
        if isinstance(self.sessionmaker.kw.get("bind"), sa.Connection):
            with self.sessionmaker() as session:
                yield session
            return
        with self.engine.connect() as connection, Session(bind=connection, expire_on_commit=False) as session:
            try:
                yield session
            finally:
                session.rollback()

    def ping(self) -> None:
        with self.new_session() as session:
            session.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
