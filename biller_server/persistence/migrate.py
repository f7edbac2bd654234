"""Alembic, driven from code: `biller-server db upgrade`, `serve` and the tests all come through here."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

import biller_server.migrations
from biller_server.persistence.database import create_sqlite_file, sqlite_file


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(biller_server.migrations.__path__[0])))
    # Alembic's ini syntax treats % as interpolation; URLs may carry %-escaped passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply pending migrations on the given engine's database (a SQLite file is created here, and only here)."""
    create_sqlite_file(engine.url)
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def pending_revisions(engine: Engine) -> list[str]:
    """Revisions the database has not had yet, oldest last (every one, for a SQLite file not created yet)."""
    script = _script()
    heads = _database_heads(engine)
    applied = {rev.revision for head in heads for rev in script.iterate_revisions(head, "base")}
    return [rev.revision for rev in script.walk_revisions() if rev.revision not in applied]


@dataclass(frozen=True)
class SchemaState:
    """Where the database's schema stands against the code's migrations."""

    revisions: tuple[str, ...]  # the database's (empty: no schema at all)
    head: str  # the code's
    pending: tuple[str, ...]

    @property
    def status(self) -> str:
        """``missing`` (no schema), ``behind`` (migrations pending), ``current``, or ``ahead`` (a newer release
        migrated it: fine for this code while the newer one rolls out)."""
        if not self.revisions:
            return "missing"
        if any(revision not in _known_revisions() for revision in self.revisions):
            return "ahead"
        return "behind" if self.pending else "current"

    @property
    def revision(self) -> str:
        return ",".join(self.revisions) or "none"


def schema_state(bind: Engine | Connection) -> SchemaState:
    """Read the database's revision (one short query; nothing is created or changed), on a new connection of the
    engine or on a connection in use (a request's)."""
    heads = _database_heads(bind)
    script = _script()
    known = _known_revisions()
    applied = {rev.revision for head in heads if head in known for rev in script.iterate_revisions(head, "base")}
    pending = tuple(rev.revision for rev in script.walk_revisions() if rev.revision not in applied)
    return SchemaState(revisions=heads, head=script.get_current_head() or "", pending=pending if heads else ())


def _database_heads(bind: Engine | Connection) -> tuple[str, ...]:
    if isinstance(bind, Connection):
        return tuple(MigrationContext.configure(bind).get_current_heads())
    path = sqlite_file(bind.url)
    if path is not None and not path.exists():
        return ()
    with bind.connect() as connection:
        return tuple(MigrationContext.configure(connection).get_current_heads())


@functools.cache
def _script() -> ScriptDirectory:
    # The migrations are the package's own files: read once per process (readyz asks on every probe).
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


@functools.cache
def _known_revisions() -> frozenset[str]:
    return frozenset(rev.revision for rev in _script().walk_revisions())
