"""``biller-server users``: console accounts made and changed from the server's shell, each change audited."""

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from biller_server.cli import cli
from biller_server.persistence.models import AuditEntry, StaffRole, StaffUser

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _fast_hashing(cheap_password_hashing):
    pass


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def user(session, name):
    session.expire_all()
    return session.scalar(sa.select(StaffUser).where(StaffUser.name == name))


def test_add_asks_for_the_password_twice_and_never_shows_it(runner, session):
    result = runner.invoke(cli, ["users", "add", "Asha", "--role", "operator"], input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert "User asha added as operator." in result.output
    assert PASSWORD not in result.output
    added = user(session, "asha")
    assert added.role is StaffRole.OPERATOR and added.password_hash.startswith("$argon2id$")
    entry = session.scalars(sa.select(AuditEntry)).one()
    assert (entry.action, entry.target, entry.outcome) == ("add_user", "user:asha", "ok")
    assert entry.actor.startswith("cli")


def test_add_reads_the_password_from_stdin_for_scripts(runner, session):
    result = runner.invoke(cli, ["users", "add", "ravi", "--role", "viewer", "--password-stdin"], input=PASSWORD + "\n")

    assert result.exit_code == 0, result.output
    assert user(session, "ravi").role is StaffRole.VIEWER


def test_a_short_password_is_refused_in_one_line(runner, session):
    result = runner.invoke(cli, ["users", "add", "ravi", "--role", "viewer", "--password-stdin"], input="short\n")

    assert result.exit_code == 1
    assert result.output.strip() == "Error: the password is too short: at least 12 characters"
    assert user(session, "ravi") is None


def test_an_existing_name_is_refused(runner):
    runner.invoke(cli, ["users", "add", "asha", "--role", "viewer", "--password-stdin"], input=PASSWORD + "\n")

    result = runner.invoke(cli, ["users", "add", "ASHA", "--role", "admin", "--password-stdin"], input=PASSWORD + "\n")

    assert result.exit_code == 1
    assert "user 'asha' already exists" in result.output


def test_list_disable_enable_and_reset_password(runner, session):
    runner.invoke(cli, ["users", "add", "asha", "--role", "admin", "--password-stdin"], input=PASSWORD + "\n")

    assert runner.invoke(cli, ["users", "disable", "asha"]).output.strip() == (
        "User asha is disabled; their sessions have ended."
    )
    listed = runner.invoke(cli, ["users", "list"]).output
    assert listed.splitlines()[2].split() == ["asha", "admin", "disabled", "-"]
    assert runner.invoke(cli, ["users", "enable", "asha"]).exit_code == 0
    version = user(session, "asha").session_version
    result = runner.invoke(cli, ["users", "reset-password", "asha", "--password-stdin"], input="another-password-1\n")
    assert result.exit_code == 0
    assert user(session, "asha").session_version == version + 1
    actions = session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["add_user", "disable_user", "enable_user", "reset_password"]


def test_changing_an_unknown_user_says_how_to_see_them(runner):
    result = runner.invoke(cli, ["users", "disable", "ghost"])

    assert result.exit_code == 1
    assert "no user 'ghost' (biller-server users list shows them)" in result.output


def test_list_gives_programs_json_with_the_sign_in_time_in_utc(runner, session):
    runner.invoke(cli, ["users", "add", "asha", "--role", "viewer", "--password-stdin"], input=PASSWORD + "\n")
    user(session, "asha").last_sign_in_at = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
    session.commit()

    listed = json.loads(runner.invoke(cli, ["users", "list", "--format", "json"]).output)

    assert listed == [
        {"name": "asha", "role": "viewer", "state": "enabled", "last_sign_in_at": "2026-11-02T10:00:00+00:00"}
    ]


def test_no_users_yet_says_how_to_add_one(runner):
    assert "biller-server users add NAME --role admin" in runner.invoke(cli, ["users", "list"]).output
