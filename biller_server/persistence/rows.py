"""Rows read or written by Core statements on a hot path, handed back as the session's own objects.

A Core statement built once only binds its values on each call; an ORM statement, or a unit-of-work flush, costs
several times more Python for the same SQL (bench/RESULTS.md, "Serving: Python per request"). Callers still get
the mapped object they expect: the one already in the session's identity map, refreshed (as
``populate_existing`` would), or a new persistent one holding exactly the row's values, with nothing pending.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

Entity = TypeVar("Entity")


def as_persistent(session: Session, entity: type[Entity], row: Mapping[str, Any], *, refresh: bool = True) -> Entity:
    """The session's ``entity`` for ``row`` (every column of its table, keyed by column name), with no history.

    Every column must be in the row: an attribute left out would be expired, and reading it would cost a SELECT.
    An object already in the session is refreshed from the row (``populate_existing``), or with ``refresh=False``
    kept as it is (what an ORM query without that option returns).
    """
    columns = _attribute_names(entity)
    identity = sa.inspect(entity).identity_key_from_primary_key([row[name] for name in _primary_key(entity)])
    existing = session.identity_map.get(identity)
    if existing is not None:
        if not refresh:
            return existing  # type: ignore[no-any-return]
        for column, attribute in columns:
            set_committed_value(existing, attribute, row[column])
        return existing  # type: ignore[no-any-return]
    # As the ORM's loading does: a new instance whose attributes are filled in directly (no constructor, no
    # attribute events), whose values then become its committed state. Nothing is left to flush.
    instance: Entity = sa.inspect(entity).class_manager.new_instance()
    values = instance.__dict__
    for column, attribute in columns:
        values[attribute] = row[column]
    make_transient_to_detached(instance)
    session.add(instance)
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
