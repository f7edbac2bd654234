"""The ``biller-server`` command: Flask's CLI group for this app, with the operators' command groups."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from biller_server.app import create_app
from biller_server.cli.bills import bills_group
from biller_server.cli.db import db_group
from biller_server.cli.inbound import inbound_group
from biller_server.cli.payments import payments_group
from biller_server.cli.report import report_group
from biller_server.cli.serve import serve_command
from biller_server.cli.users import users_group
from biller_server.cli.worker import worker_command
from biller_server.config import MissingSettingError
from biller_server.extensions import DB_KEY


def _create_app_for_cli() -> Flask:
    try:
        app = create_app()
    except MissingSettingError as exc:
        raise click.ClickException(str(exc)) from None
    # A command's app context lasts the whole command: close its connections when it ends.
    app.teardown_appcontext(lambda _exc: app.extensions[DB_KEY].dispose())
    return app


cli = FlaskGroup(
    name="biller-server",
    create_app=_create_app_for_cli,
    help="Biller-side BBPS server: serve the partner channels and operate the books.",
)
cli.add_command(bills_group)
cli.add_command(db_group)
cli.add_command(serve_command)
cli.add_command(payments_group)
cli.add_command(worker_command)
cli.add_command(report_group)
cli.add_command(inbound_group)
cli.add_command(users_group)


def main() -> None:
    cli.main(prog_name="biller-server")
