"""``biller-server users``: the console's staff accounts (docs/console.md). Every change is in the audit log.

Passwords are typed at a hidden prompt (twice), or read from standard input with ``--password-stdin`` for
scripts; never given as an argument, where the shell's history and ``ps`` would show them.
"""

from __future__ import annotations

import getpass
import sys

import click
from flask.cli import with_appcontext

from biller_server.cli.output import Column, Kind, Section, echo_sections, format_option
from biller_server.domain.staff.accounts import (
    PASSWORD_MIN_LENGTH,
    StaffError,
    add_user,
    check_password,
    disable_user,
    enable_user,
    list_users,
    set_password,
)
from biller_server.domain.staff.audit import record_audit
from biller_server.extensions import get_db
from biller_server.persistence.models import StaffRole
from biller_server.persistence.types import utcnow


@click.group("users")
def users_group() -> None:
    """Staff accounts of the operations console: add, list, disable, enable, reset a password."""


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(
            f"Password (at least {PASSWORD_MIN_LENGTH} characters)", hide_input=True, confirmation_prompt=True
        )
    try:
        return check_password(password)
    except StaffError as exc:
        raise click.ClickException(exc.message) from None


password_stdin = click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of standard input (for scripts)."
)


@users_group.command("add")
@click.argument("name")
@click.option(
    "--role",
    required=True,
    type=click.Choice([role.value for role in StaffRole]),
    help="viewer reads; operator also acts.",
)
@password_stdin
@with_appcontext
def add_command(name: str, role: str, password_stdin: bool) -> None:
    """Add a console user NAME with a role and a password."""
    password = _password(password_stdin)
    _change(
        "add_user",
        name,
        lambda session: add_user(session=session, name=name, role=StaffRole(role), password=password),
        detail={"role": role},
    )
    click.echo(f"User {name.strip().lower()} added as {role}.")


USER_COLUMNS = (
    Column("name"),
    Column("role"),
    Column("state"),
    Column("last_sign_in_at", "last sign-in", Kind.TIME),
)


@users_group.command("list")
@format_option
@with_appcontext
def list_command(output_format: str) -> None:
    """List the console users: role, state and last sign-in."""
    with get_db().new_session() as session:
        rows = [
            (user.name, user.role.value, "disabled" if user.disabled_at else "enabled", user.last_sign_in_at)
            for user in list_users(session=session)
        ]
    empty = "No users. Add one with `biller-server users add NAME --role admin`."
    echo_sections([Section("users", USER_COLUMNS, rows, empty=empty)], output_format)


@users_group.command("disable")
@click.argument("name")
@with_appcontext
def disable_command(name: str) -> None:
    """Stop NAME signing in; every session they hold ends at once."""
    _change("disable_user", name, lambda session: disable_user(session=session, name=name, now=utcnow()))
    click.echo(f"User {name.strip().lower()} is disabled; their sessions have ended.")


@users_group.command("enable")
@click.argument("name")
@with_appcontext
def enable_command(name: str) -> None:
    """Let a disabled user NAME sign in again."""
    _change("enable_user", name, lambda session: enable_user(session=session, name=name))
    click.echo(f"User {name.strip().lower()} is enabled.")


@users_group.command("reset-password")
@click.argument("name")
@password_stdin
@with_appcontext
def reset_password_command(name: str, password_stdin: bool) -> None:
    """Give NAME a new password; their sessions end and a lock-out on the name is lifted."""
    password = _password(password_stdin)
    _change("reset_password", name, lambda session: set_password(session=session, name=name, password=password))
    click.echo(f"User {name.strip().lower()} has a new password; their sessions have ended.")


def _change(action: str, name: str, change, detail: dict[str, str] | None = None) -> None:  # type: ignore[no-untyped-def]
    target = f"user:{name.strip().lower()[:64]}"
    try:
        with get_db().transaction() as session:
            change(session)
            record_audit(
                session=session, actor=_actor(), action=action, outcome="ok", target=target, detail=detail, now=utcnow()
            )
    except StaffError as exc:
        raise click.ClickException(exc.message) from None
