"""What stops a command, said in one line each, with what to do: never a traceback.

Exit codes: 1 for a failure of the command itself (``Error: ...``), 78 (``EX_CONFIG``) for settings that cannot be
read, so that a service manager can tell a configuration to fix from a crash to restart (systemd:
``RestartPreventExitStatus=78``).
"""

from __future__ import annotations

from typing import IO, Any

import click
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from biller_server.config import MissingSettingError, Settings
from biller_server.persistence.database import sqlite_file
from biller_server.persistence.migrate import SchemaState, schema_state

EX_CONFIG = 78


class CommandProblem(click.ClickException):
    """A ``ClickException`` whose message may hold several lines, each shown as its own ``Error:`` line."""

    def show(self, file: IO[Any] | None = None) -> None:
        for line in self.format_message().splitlines():
            click.echo(f"Error: {line}", err=True, file=file)


class ConfigurationProblem(CommandProblem):
    """Settings that cannot be read or are not enough for this command."""

    exit_code = EX_CONFIG


def database_name(url: str | sa.URL) -> str:
    """The database as a person knows it: a SQLite file's full path, or the URL without its password."""
    path = sqlite_file(url)
    if path is not None:
        return str(path)
    return make_url(url).render_as_string(hide_password=True)


def database_unavailable(url: str | sa.URL | None, exc: BaseException) -> CommandProblem:
    text = str(getattr(exc, "orig", None) or exc).strip()
    reason = text.splitlines()[0] if text else type(exc).__name__
    name = database_name(url) if url is not None else "configured"
    return CommandProblem(
        f"the database {name} does not answer ({reason}): check BILLER_DATABASE_URL and that the database server runs"
    )


def require_production_settings(settings: Settings) -> None:
    """For the commands that serve partners or call them: production's check of the secrets they need."""
    try:
        settings.check_production()
    except MissingSettingError as exc:
        raise ConfigurationProblem(str(exc)) from None


def missing_database(url: str | sa.URL) -> CommandProblem:
    path = sqlite_file(url)
    if path is not None:
        return CommandProblem(
            f"no database at {path}: run `biller-server db upgrade` to create it, or run from the folder that holds "
            "it (BILLER_INSTANCE_DIR is relative to the current folder), or set BILLER_DATABASE_URL"
        )
    return CommandProblem(
        f"the database {database_name(url)} has no schema yet: run `biller-server db upgrade` to create it"
    )


def check_books(engine: Engine) -> SchemaState:
    """Stop, in one line, unless the database exists and its schema is the code's (or newer): for every command
    that reads or writes the books. Only ``db upgrade`` and ``serve`` create or migrate a database."""
    try:
        state = schema_state(engine)
    except sa.exc.DBAPIError as exc:
        raise database_unavailable(engine.url, exc) from None
    if state.status == "missing":
        raise missing_database(engine.url)
    if state.status == "behind":
        raise CommandProblem(
            f"the database {database_name(engine.url)} is at schema {state.revision}, this release needs "
            f"{state.head}: run `biller-server db upgrade`"
        )
    return state
