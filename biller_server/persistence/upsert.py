"""INSERT ... ON CONFLICT for the two databases served: one place that picks the dialect's insert construct."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_for(session: Session, target: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT of ``target`` (a table or a mapped class) that can take ``on_conflict_do_nothing``: both PostgreSQL
    and SQLite spell it ``ON CONFLICT ... DO NOTHING``, but SQLAlchemy builds it per dialect."""
    return dialect_insert(session.get_bind().dialect.name)(target)


def dialect_insert(dialect: str) -> Callable[[Any], postgresql.Insert | sqlite.Insert]:
    """The INSERT construct of ``dialect`` (a name): for statements built once per dialect, at import."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert
