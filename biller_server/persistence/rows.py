"""Rows read or written by Core statements on a hot path, handed back as the session's own objects.

A Core statement built once only binds its values on each call; an ORM statement, or a unit-of-work flush, costs
several times more Python for the same SQL (bench/RESULTS.md, "Serving: Python per request"). Callers still get
the mapped object they expect: the one already in the session's identity map, refreshed (as
``populate_existing`` would), or a new persistent one holding exactly the row's values, with nothing pending.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

Entity = TypeVar("Entity")


def bound_columns(table: sa.Table, columns: Iterable[str], *, prefix: str = "") -> dict[str, Any]:
    """``{column: bind parameter}`` for the VALUES or SET of a statement built once: each parameter named
    ``prefix`` + the column and typed as the column, so a call binds plain values by name."""
    return {column: sa.bindparam(f"{prefix}{column}", type_=table.c[column].type) for column in columns}


def as_persistent(session: Session, entity: type[Entity], row: Mapping[str, Any]) -> Entity:
    """The session's ``entity`` for ``row`` (every column of its table, keyed by column name), with no history.

    Every column must be in the row: an attribute left out would be expired, and reading it would cost a SELECT.
    An object already in the session is refreshed from the row (as ``populate_existing`` would).
    """
    columns = _attribute_names(entity)
    identity = sa.inspect(entity).identity_key_from_primary_key([row[name] for name in _primary_key(entity)])
    existing = session.identity_map.get(identity)
    if existing is not None:
        for column, attribute in columns:
            set_committed_value(existing, attribute, row[column])
        return existing  # type: ignore[no-any-return]
    instance = as_detached(entity, row)
    session.add(instance)  # persistent, in the identity map, with nothing to flush
    return instance


def hold_committed(instance: object, values: Mapping[str, Any]) -> None:
    """Give ``instance`` the ``values`` (attribute names) that a Core statement has just written to its row, as
    committed: no history, so the unit of work has nothing to write for them."""
    for attribute, value in values.items():
        set_committed_value(instance, attribute, value)


def as_detached(entity: type[Entity], row: Mapping[str, Any]) -> Entity:
    """``entity`` holding ``row`` (every column of its table, keyed by column name), in no session: for values that
    are only read (a bill fetch's customer and bills), a fraction of the cost of adding it to the session.

    Its columns read as loaded; a relationship cannot be loaded (``DetachedInstanceError``), and nothing it holds
    is ever written.
    """
    # As the ORM's loading does: a new instance whose attributes are filled in directly (no constructor, no
    # attribute events), whose values then become its committed state.
    instance: Entity = sa.inspect(entity).class_manager.new_instance()
    values = instance.__dict__
    for column, attribute in _attribute_names(entity):
        values[attribute] = row[column]
    make_transient_to_detached(instance)
    return instance


@functools.cache
def _attribute_names(entity: type[Any]) -> tuple[tuple[str, str], ...]:
    """(column name, attribute name) for every column of the entity's table."""
    orm.configure_mappers()  # what an ORM statement or constructor would have done first
    mapper = sa.inspect(entity)
    return tuple((column.name, mapper.get_property_by_column(column).key) for column in mapper.local_table.columns)


@functools.cache
def _primary_key(entity: type[Any]) -> tuple[str, ...]:
    return tuple(column.name for column in sa.inspect(entity).primary_key)
