"""Hot-path statements run on the driver's cursor, inside the session's transaction, without SQLAlchemy's execution.

A Core statement built once still costs SQLAlchemy's execution on every call: an execution context, the cache
look-up, a result object with its metadata built from ``cursor.description``. For the few statements every partner
call sends (a bill fetch, a receipt, a notification) that was about half of their Python (bench/RESULTS.md,
"Serving: statements on the driver's cursor"). A ``DirectStatement`` is compiled once per dialect; a call binds the
values through the same bind processors SQLAlchemy would use, runs the SQL on the connection the session already
holds (same transaction, same locks), and converts the row values through the same result processors. What
SQLAlchemy's execution gave that matters here is kept: a driver error becomes SQLAlchemy's exception and a lost
connection is invalidated, through the connection's own handling; ``before_cursor_execute`` listeners (statement
counting in bench/) still see the statement.

Not for statements whose values change their SQL (an IN list bound at call time) or that the unit of work must see:
the session's pending changes are not flushed first (call ``session.flush()`` where that matters).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler


@dataclass(frozen=True)
class _Compiled:
    """One statement's SQL for one dialect, and what a call needs to bind and to read."""

    sql: str
    required: frozenset[str]  # the names a call must give a value for
    positional: tuple[str, ...] | None  # the bind names in order, for a driver with positional parameters
    defaults: Mapping[str, Any]  # the values bound when the statement was built, as the driver takes them
    bind_processors: Mapping[str, Callable[[Any], Any]]
    result_types: tuple[sa.types.TypeEngine[Any], ...]
    keys: tuple[str, ...]  # the result columns' names


class DirectStatement:
    """A Core statement (built once, at import) that runs on the session's DBAPI connection."""

    def __init__(self, statement: sa.Executable) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}
        # Per dialect: (column index, result processor) for the columns whose driver values SQLAlchemy converts.
        self._conversions: dict[str, tuple[tuple[int, Callable[[Any], Any]], ...]] = {}

    def rows(self, on: Session | sa.Connection, parameters: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row the statement returns, with its values converted as SQLAlchemy would have."""
        connection = _connection(on)
        return self._rows(connection, self._compiled(connection.dialect), parameters)

    def one_or_none(self, on: Session | sa.Connection, parameters: Mapping[str, Any]) -> dict[str, Any] | None:
        """The one row (keyed by its columns' names), or None; more than one is an error."""
        connection = _connection(on)
        compiled = self._compiled(connection.dialect)
        rows = self._rows(connection, compiled, parameters)
        if len(rows) > 1:
            raise sa.exc.MultipleResultsFound("Multiple rows were found when one or none was required")
        return None if not rows else dict(zip(compiled.keys, rows[0], strict=True))

    def run(self, on: Session | sa.Connection, parameters: Mapping[str, Any]) -> None:
        """Run a statement that returns nothing (an INSERT or UPDATE without RETURNING)."""
        connection = _connection(on)
        self._execute(connection, self._compiled(connection.dialect), parameters).close()

    def _rows(
        self, connection: sa.Connection, compiled: _Compiled, parameters: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        cursor = self._execute(connection, compiled, parameters)
        try:
            # cursor.description is not read on every call: psycopg builds an object per column each time it is.
            rows = cursor.fetchall() if compiled.result_types else []
            conversions = self._conversions.get(connection.dialect.name)
            if conversions is None:
                conversions = self._conversions_for(connection.dialect, compiled, cursor.description)
            if conversions and rows:
                rows = [_converted(row, conversions) for row in rows]
            return rows
        except BaseException as error:
            self._failed(connection, compiled, parameters, cursor, error)
        finally:
            cursor.close()

    def _execute(self, connection: sa.Connection, compiled: _Compiled, parameters: Mapping[str, Any]) -> Any:
        if not compiled.required <= parameters.keys():
            raise sa.exc.InvalidRequestError(f"values missing for {sorted(compiled.required - parameters.keys())}")
        if not connection.in_transaction():
            connection.begin()  # what SQLAlchemy's autobegin does (on SQLite the engine's BEGIN IMMEDIATE)
        cursor = None
        bound: Any = parameters
        try:
            processors = compiled.bind_processors
            values = {
                **compiled.defaults,
                **{
                    name: processors[name](value) if name in processors else value for name, value in parameters.items()
                },
            }
            bound = values if compiled.positional is None else tuple(values[name] for name in compiled.positional)
            cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            sql = compiled.sql
            if connection._has_events or connection.engine._has_events:
                for listener in connection.dispatch.before_cursor_execute:  # as Connection._execute_context
                    sql, bound = listener(connection, cursor, sql, bound, None, False)
            cursor.execute(sql, bound)
        except BaseException as error:
            if cursor is not None:
                cursor.close()
            self._failed(connection, compiled, bound, cursor, error)
        return cursor

    @staticmethod
    def _failed(
        connection: sa.Connection, compiled: _Compiled, bound: Any, cursor: Any, error: BaseException
    ) -> NoReturn:
        # SQLAlchemy's own handling, as for any statement it runs: a driver error becomes its exception class (any
        # other one a StatementError), and a lost connection, or an exit (a worker's timeout), is invalidated with
        # its pool.
        connection._handle_dbapi_exception(error, compiled.sql, bound, cursor, None)

    def _compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = _compile(self.statement, dialect)
        return compiled

    def _conversions_for(
        self, dialect: Dialect, compiled: _Compiled, description: Sequence[Any] | None
    ) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
        processors = (
            type_._cached_result_processor(dialect, column[1])
            for type_, column in zip(compiled.result_types, description or (), strict=bool(description))
        )
        conversions = tuple((index, convert) for index, convert in enumerate(processors) if convert is not None)
        self._conversions[dialect.name] = conversions
        return conversions


def _connection(on: Session | sa.Connection) -> sa.Connection:
    """The connection a session holds for its transaction (begun if need be), or the connection given."""
    return on.connection() if isinstance(on, Session) else on


def _converted(row: Sequence[Any], conversions: tuple[tuple[int, Callable[[Any], Any]], ...]) -> tuple[Any, ...]:
    values = list(row)
    for index, convert in conversions:
        values[index] = convert(values[index])
    return tuple(values)


def _compile(statement: sa.Executable, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    if compiled.post_compile_params or compiled.literal_execute_params:
        # SQLAlchemy renders these anew on every call (an IN list): write it as comparisons joined by OR.
        raise ValueError("a statement whose SQL is rendered per call cannot be run directly")
    if compiled.insert_prefetch or compiled.update_prefetch:
        # Columns SQLAlchemy fills in from Python (a default, an onupdate) that the statement leaves out: they would
        # be written NULL here. Give them in the statement's values.
        names = sorted(column.name for column in [*compiled.insert_prefetch, *compiled.update_prefetch])
        raise ValueError(f"columns filled in by SQLAlchemy's defaults must be given values: {names}")
    if compiled.escaped_bind_names:
        raise ValueError(f"bind names that need escaping are not supported: {sorted(compiled.escaped_bind_names)}")
    required = frozenset(name for bind, name in compiled.bind_names.items() if bind.required)
    processors = dict(compiled._bind_processors)
    defaults = {
        name: processors[name](value) if name in processors else value
        for name, value in compiled.construct_params(escape_names=False, _check=False).items()
        if name not in required
    }
    return _Compiled(
        sql=compiled.string,
        required=required,
        positional=tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None,
        defaults=defaults,
        bind_processors=processors,
        result_types=tuple(column[3] for column in compiled._result_columns),
        keys=tuple(column[0] for column in compiled._result_columns),
    )
