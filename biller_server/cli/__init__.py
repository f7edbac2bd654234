"""The ``biller-server`` command: the operators' commands, each building the app it needs when it runs.

A plain click group rather than Flask's: the help shows the product, its version and its own commands only (not
Flask's ``run``, ``shell`` and ``routes``), and ``--version`` names biller-server's build, not Python's and Flask's.
Commands still run inside an application context (``flask.cli.with_appcontext``), built by ``_create_app_for_cli``.

What every command can count on, so that none fails with a traceback:

- settings that cannot be read stop it with one line per variable (exit 78); an unknown ``BILLER_`` variable is
  warned about, once;
- a command that uses the books checks first that the database exists and its schema is current, and says in one
  line what to run if not (only ``db upgrade`` and ``serve`` create or migrate a database);
- a database that stops answering is one line too;
- partner secrets are asked for only by the commands that serve partners or call them (``serve``, ``worker``).
"""

from __future__ import annotations

import os
from typing import Any

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import ScriptInfo, load_dotenv

from biller_server import __version__
from biller_server.app import create_app
from biller_server.build import checkout_commit
from biller_server.cli.bills import bills_group
from biller_server.cli.db import db_group
from biller_server.cli.inbound import inbound_group
from biller_server.cli.notifications import notifications_group
from biller_server.cli.payments import payments_group
from biller_server.cli.problems import ConfigurationProblem, check_books, database_unavailable
from biller_server.cli.report import report_group
from biller_server.cli.serve import serve_command
from biller_server.cli.settlements import bank_group, settlements_group
from biller_server.cli.status import status_command
from biller_server.cli.users import users_group
from biller_server.cli.worker import worker_command
from biller_server.config import Settings, SettingsError, load_settings
from biller_server.config.settings import unknown_variables
from biller_server.extensions import DB_KEY

# Commands that may find no database, or one behind the code: they create it, migrate it, or report on it.
_WITHOUT_BOOKS_CHECK = {("db", "upgrade"), ("db", "pending"), ("serve",), ("status",)}


def _create_app_for_cli() -> Flask:
    settings = _settings_for_cli()
    context = click.get_current_context(silent=True)
    if context is None or context.params.get("parent_pid") is None:  # serve's own worker: serve has said it
        for name in unknown_variables(os.environ):
            click.echo(f"Warning: {name} is not a setting (a typo? every setting is in config/README.md)", err=True)
    app = create_app(settings, check_production=False)
    # A command's app context lasts the whole command: close its connections when it ends.
    database = app.extensions[DB_KEY]
    app.teardown_appcontext(lambda _exc: database.dispose())
    if _invoked_command() not in _WITHOUT_BOOKS_CHECK:
        check_books(database.engine)
    return app


def _settings_for_cli() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise ConfigurationProblem(str(exc)) from None


def _invoked_command() -> tuple[str, ...]:
    context: click.Context | None = click.get_current_context(silent=True)
    names: list[str] = []
    while context is not None and context.parent is not None:
        names.insert(0, context.info_name or "")
        context = context.parent
    return tuple(names)


def _print_version(context: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or context.resilient_parsing:
        return
    commit = os.environ.get("BILLER_BUILD_COMMIT") or checkout_commit()
    click.echo(f"biller-server {__version__} (commit {commit})")
    context.exit()


class BillerGroup(click.Group):
    """The top-level group: supplies the app factory, reads ``.env``, and turns a database that stops answering
    mid-command into one line."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        load_dotenv()  # a .env file in the working folder (or above it), as config/README.md says
        # Tests hand in their own app (Flask's test_cli_runner passes a ScriptInfo); otherwise build one per command.
        extra.setdefault("obj", ScriptInfo(create_app=_create_app_for_cli, set_debug_flag=False))
        return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            info: ScriptInfo | None = ctx.find_object(ScriptInfo)
            app = info._loaded_app if info is not None else None
            url = app.extensions[DB_KEY].engine.url if app is not None else None
            raise database_unavailable(url, exc) from None


@click.group(
    cls=BillerGroup,
    name="biller-server",
    help=f"biller-server {__version__}: the biller side of BBPS for lenders. Serve the partner channels, confirm "
    "payments, and operate the books. Every setting is a BILLER_ variable (config/README.md).",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and the build's commit, then exit.",
)
def cli() -> None:
    pass


for command in (
    serve_command,
    worker_command,
    status_command,
    db_group,
    bills_group,
    payments_group,
    report_group,
    inbound_group,
    notifications_group,
    settlements_group,
    bank_group,
    users_group,
):
    cli.add_command(command)


def main() -> None:
    cli.main(prog_name="biller-server")
