"""Alembic environment: the URL comes from the caller (biller-server) or from BILLER_DATABASE_URL."""

from __future__ import annotations

from alembic import context
from biller_server.config import load_settings

from biller_server.persistence.database import create_engine_for
from biller_server.persistence.models import Base

config = context.config
target_metadata = Base.metadata


def _render_as_batch(dialect_name: str) -> bool:
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
    return dialect_name == "sqlite"


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or load_settings().resolved_database_url
    context.configure(
        url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=url.startswith("sqlite")
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    settings = load_settings()
    engine = create_engine_for(settings, config.get_main_option("sqlalchemy.url") or None)
    with engine.begin() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=_render_as_batch(connection.dialect.name),
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
