"""``biller-server db``: create and upgrade the schema."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from biller_server.cli.output import Column, Section, echo_sections, format_option
from biller_server.extensions import get_db
from biller_server.persistence.migrate import pending_revisions, upgrade


@click.group("db")
def db_group() -> None:
    """Manage the database schema (Alembic migrations)."""


@db_group.command("upgrade")
@with_appcontext
def upgrade_command() -> None:
    """Apply every pending migration to the configured database."""
    database = get_db()
    assert database.engine is not None
    pending = pending_revisions(database.engine)
    upgrade(database.engine)
    click.echo(
        f"database {database.engine.url.render_as_string(hide_password=True)}: "
        f"{len(pending)} migration(s) applied, schema at head"
    )


@db_group.command("pending")
@format_option
@with_appcontext
def pending_command(output_format: str) -> None:
    """List migrations not yet applied, in the order `db upgrade` applies them (exit 1 if there are any)."""
    database = get_db()
    assert database.engine is not None
    pending = pending_revisions(database.engine)
    rows = [(revision,) for revision in reversed(pending)]
    echo_sections([Section("pending", (Column("revision"),), rows, empty="schema at head")], output_format)
    if pending:
        raise SystemExit(1)
