"""Fixtures shared by the whole suite.

Every test that touches the books runs twice, on SQLite and on PostgreSQL (the ``backend`` fixture), inside an
outer transaction that is rolled back at the end. PostgreSQL comes from ``BILLER_TEST_POSTGRES_URL`` (default: the
local server, user postgres); a fresh database is created for the run and dropped after. Without a reachable
server the PostgreSQL half is skipped with the reason, except under CI (``CI=true``), where that is an error.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from biller_server.config import Settings, load_settings
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from biller_server.app import create_app
from biller_server.domain.staff import accounts
from biller_server.extensions import DB_KEY
from biller_server.persistence.database import create_engine_for
from biller_server.persistence.migrate import upgrade
from biller_server.persistence.models import Base
from tests import factories

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
KALEIDOFIN_KEY = "test-kaleidofin-key-0123456789"
DIGILEDGE_KEY = "test-digiledge-key-0123456789"
SETU_KEY = "test-setu-key-0123456789"
BACKENDS = ["sqlite", "postgresql"]
# Every partner endpoint, with the key that opens it and its channel.
PARTNER_ENDPOINTS = [
    ("/bills/fetchBills", KALEIDOFIN_KEY, "kaleidofin"),
    ("/bills/fetchReceipt", KALEIDOFIN_KEY, "kaleidofin"),
    ("/digiledge/payment-notification", DIGILEDGE_KEY, "digiledge"),
    ("/digiledge/fetch", DIGILEDGE_KEY, "digiledge"),
    ("/digiledge/validation", DIGILEDGE_KEY, "digiledge"),
    ("/digiledge/payment", DIGILEDGE_KEY, "digiledge"),
    ("/digiledge/TxnStatus402", DIGILEDGE_KEY, "digiledge"),
    ("/setu/bills/fetch", SETU_KEY, "setu"),
    ("/setu/bills/fetch/", SETU_KEY, "setu"),
    ("/setu/customer/validate", SETU_KEY, "setu"),
    ("/setu/bills/fetchReceipt", SETU_KEY, "setu"),
    ("/setu/notifications", SETU_KEY, "setu"),
    ("/setu/api/notifications", SETU_KEY, "setu"),
]


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": database_url,
        "kaleidofin_api_key": KALEIDOFIN_KEY,
        "digiledge_api_key": DIGILEDGE_KEY,
        "setu_api_key": SETU_KEY,
        "setu_validate_pay_enabled": True,
        "log_level": "WARNING",
    }
    if overrides.get("env") != "production":
        # Every channel, Setu too: it is served only when BILLER_CHANNELS names it. A production app keeps the
        # default channels, as a lender's server without Setu's settings does.
        values["channels"] = ",".join(Settings.channel_names())
    values.update(overrides)
    return load_settings(**values)


def assert_channel_error(channel: str, status: int | None, body: object) -> None:
    """An error in the channel's own shape: Setu's errorResponse (Kaleidofin's too) or Digiledge's ack."""
    assert isinstance(body, dict), body
    if channel in ("kaleidofin", "setu"):
        assert body["success"] is False
        assert body["status"] == status
        assert body["error"]["code"]
    else:
        assert set(body) == {"reason", "code", "status"}
        assert body["code"] == status


def _postgres_admin_url() -> str:
    return os.environ.get("BILLER_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "biller-test.sqlite3"
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    admin_url = make_url(_postgres_admin_url())
    if admin_url.drivername == "postgresql":
        admin_url = admin_url.set(drivername="postgresql+psycopg")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = (
            f"PostgreSQL is not reachable at {admin_url.render_as_string(hide_password=True)} "
            f"(set BILLER_TEST_POSTGRES_URL): {exc.orig}"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    name = f"biller_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def migrated_engines() -> Iterator[dict[str, Engine]]:
    engines: dict[str, Engine] = {}
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")


@pytest.fixture
def engine(database_url: str, migrated_engines: dict[str, Engine]) -> Engine:
    """The backend's engine, its schema created by the real migrations once per run."""
    if database_url not in migrated_engines:
        engine = create_engine_for(make_settings(database_url))
        upgrade(engine)
        migrated_engines[database_url] = engine
    return migrated_engines[database_url]


@pytest.fixture
def connection(engine: Engine) -> Iterator[sa.Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


@pytest.fixture
def bound_sessionmaker(connection: sa.Connection) -> sessionmaker[Session]:
    # Every session of the test (the app's, the factories', the test's own) works inside the outer
    # transaction; their commits only release savepoints, so the rollback above undoes everything.
    return sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")


@pytest.fixture
def session(bound_sessionmaker: sessionmaker[Session]) -> Iterator[Session]:
    session = bound_sessionmaker()
    factories.bind(session)
    try:
        yield session
    finally:
        factories.bind(None)
        session.close()


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """Override in a test module to give the app other settings."""
    return {}


@pytest.fixture
def app(
    database_url: str,
    bound_sessionmaker: sessionmaker[Session],
    session: Session,
    settings_overrides: dict[str, object],
) -> Iterator[Flask]:
    app = create_app(make_settings(database_url, **settings_overrides))
    database = app.extensions[DB_KEY]
    database.dispose()
    database.sessionmaker = bound_sessionmaker
    with app.app_context():
        yield app


@pytest.fixture
def committing_app(database_url: str, engine: Engine) -> Iterator[Flask]:
    """An app whose requests really commit, for races between concurrent requests; every table is emptied after."""
    app = create_app(make_settings(database_url))
    try:
        yield app
    finally:
        app.extensions[DB_KEY].dispose()
        with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def kaleidofin_headers() -> dict[str, str]:
    return {"X-API-Key": KALEIDOFIN_KEY}


@pytest.fixture
def digiledge_headers() -> dict[str, str]:
    return {"X-API-Key": DIGILEDGE_KEY}


@pytest.fixture
def setu_headers() -> dict[str, str]:
    return {"X-API-Key": SETU_KEY}


@pytest.fixture
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """argon2id with the least memory and time, so tests that sign in many times stay fast. The real parameters
    (64 MiB, 3 passes) are checked once, in tests/domain/staff/test_accounts.py."""
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    accounts._stand_in_hash.cache_clear()
    yield
    accounts._stand_in_hash.cache_clear()
