"""Fixtures for the reliability scenarios that run real processes against a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from biller_server.persistence.database import create_engine_for
from biller_server.persistence.models import Base, InboundMessage
from tests import factories
from tests.conftest import make_settings
from tests.reliability.live import LiveServer, fresh_postgres_database


@pytest.fixture
def live_database_url(postgres_url: str) -> Iterator[str]:
    with fresh_postgres_database(postgres_url) as url:
        yield url


@pytest.fixture
def live_server(live_database_url: str, tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start servers on the fresh database (serve migrates it); every one started is stopped at the end."""
    started: list[LiveServer] = []

    def start(**options: object) -> LiveServer:
        server = LiveServer(live_database_url, tmp_path / f"server-{len(started)}.log", **options)  # type: ignore[arg-type]
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="module")
def module_database_url(postgres_url: str) -> Iterator[str]:
    """A fresh database shared by one module's tests (and the server they share); they must not depend on order."""
    with fresh_postgres_database(postgres_url) as url:
        yield url


@pytest.fixture(scope="module")
def module_engine(module_database_url: str) -> Iterator[Engine]:
    engine = create_engine_for(make_settings(module_database_url))
    yield engine
    engine.dispose()


@pytest.fixture
def live_engine(live_database_url: str) -> Iterator[Engine]:
    engine = create_engine_for(make_settings(live_database_url))
    yield engine
    engine.dispose()


def seed(engine: Engine, build: Callable[[], object]) -> None:
    """Run factories against the live database and commit."""
    with Session(engine) as session:
        factories.bind(session)
        try:
            build()
            session.commit()
        finally:
            factories.bind(None)


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def written_rows(engine: Engine) -> dict[str, int]:
    """Rows in every table but the inbound log: what a refused request must leave unchanged."""
    with Session(engine) as session:
        return {
            table.name: session.scalar(sa.select(sa.func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
            if table.name != "inbound_messages"
        }


def last_inbound(engine: Engine) -> InboundMessage:
    with Session(engine) as session:
        row = session.scalars(sa.select(InboundMessage).order_by(InboundMessage.id.desc())).first()
        assert row is not None, "no inbound message was logged"
        return row
