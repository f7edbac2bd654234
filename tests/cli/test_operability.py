"""What an operator sees when something around the books is wrong: one line saying what to do, and an exit code a
script can act on, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from biller_server import __version__
from biller_server.cli import cli
from biller_server.persistence.database import create_engine_for
from biller_server.persistence.migrate import upgrade
from tests.conftest import make_settings

BIN = Path(sys.executable).parent / "biller-server"
READ_ONLY_COMMANDS = [
    ["bills", "list"],
    ["payments", "list"],
    ["payments", "unresolved"],
    ["report", "daily", "--date", "2026-11-02"],
    ["inbound", "list"],
    ["status"],
]


@pytest.fixture
def environment(monkeypatch):
    """A clean BILLER_ environment: only what each test sets."""
    for name in list(os.environ):
        if name.startswith("BILLER_") and name != "BILLER_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("BILLER_ENV", "test")
    return monkeypatch


@pytest.fixture
def migrated_sqlite(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'books.sqlite3'}"
    engine = create_engine_for(make_settings(url))
    upgrade(engine)
    engine.dispose()
    return url


def test_version_names_the_product_and_its_build():
    result = CliRunner().invoke(cli, ["--version"])

    assert result.exit_code == 0
    assert result.output.startswith(f"biller-server {__version__} (commit ")


def test_help_shows_the_product_and_its_commands_only():
    result = CliRunner().invoke(cli, ["--help"])

    assert result.exit_code == 0
    assert f"biller-server {__version__}" in result.output
    commands = result.output.split("Commands:")[1].split()
    for ours in ("serve", "worker", "status", "db", "bills", "payments", "report", "inbound"):
        assert ours in commands
    for flasks in ("run", "shell", "routes"):
        assert flasks not in commands


def test_a_command_run_outside_the_checkout_says_the_database_is_missing_and_creates_nothing(tmp_path):
    # As cron runs it: another working folder, no BILLER_DATABASE_URL, so instance/ is looked for there.
    env = {key: value for key, value in os.environ.items() if not key.startswith("BILLER_")}

    result = subprocess.run(
        [str(BIN), "payments", "list"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: no database at {tmp_path / 'instance' / 'biller.sqlite3'}: run `biller-server db upgrade` to "
        "create it, or run from the folder that holds it (BILLER_INSTANCE_DIR is relative to the current folder), "
        "or set BILLER_DATABASE_URL\n"
    )
    assert list(tmp_path.iterdir()) == []  # no instance/ folder, no empty database


def test_a_database_behind_the_code_is_one_line_naming_the_command(environment, tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine_for(make_settings(url))
    upgrade(engine, "0003")
    engine.dispose()
    environment.setenv("BILLER_DATABASE_URL", url)

    result = CliRunner().invoke(cli, ["bills", "list"])

    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert result.output.startswith(f"Error: the database {tmp_path / 'old.sqlite3'} is at schema 0003, this release")
    assert result.output.endswith(": run `biller-server db upgrade`\n")


def test_an_unreachable_database_is_one_line(environment):
    # Nothing listens on port 1: the connection is refused at once.
    environment.setenv("BILLER_DATABASE_URL", "postgresql://biller:secret@127.0.0.1:1/biller")

    result = CliRunner().invoke(cli, ["payments", "list"])

    assert result.exit_code == 1
    assert result.output.count("\n") == 1, result.output
    assert result.output.startswith(
        "Error: the database postgresql+psycopg://biller:***@127.0.0.1:1/biller does not answer ("
    )
    assert "secret" not in result.output
    assert result.output.endswith("check BILLER_DATABASE_URL and that the database server runs\n")


@pytest.mark.parametrize("command", READ_ONLY_COMMANDS, ids=" ".join)
def test_read_only_commands_need_the_database_not_partner_secrets(environment, migrated_sqlite, command):
    environment.setenv("BILLER_ENV", "production")  # and not one partner secret set
    environment.setenv("BILLER_DATABASE_URL", migrated_sqlite)

    result = CliRunner().invoke(cli, command)

    assert result.exit_code == 0, result.output


def test_serve_in_production_without_secrets_is_one_line_and_exit_78(environment, migrated_sqlite):
    environment.setenv("BILLER_ENV", "production")
    environment.setenv("BILLER_DATABASE_URL", migrated_sqlite)
    environment.setenv("BILLER_CHANNELS", "kaleidofin")

    result = CliRunner().invoke(cli, ["serve"])

    assert result.exit_code == 78
    assert result.output == (
        "Error: BILLER_ENV=production with BILLER_CHANNELS=kaleidofin needs these variables, which are not set: "
        "BILLER_KALEIDOFIN_API_KEY, BILLER_KALEIDOFIN_STATUS_URL\n"
    )


def test_status_on_a_database_that_does_not_answer_says_so_and_exits_1(environment):
    environment.setenv("BILLER_DATABASE_URL", "postgresql://biller@127.0.0.1:1/biller")

    result = CliRunner().invoke(cli, ["status"])

    assert result.exit_code == 1
    assert "database is:" in result.output and "does not answer" in result.output


def test_db_pending_on_a_missing_sqlite_file_lists_every_migration_and_creates_nothing(environment, tmp_path):
    environment.setenv("BILLER_DATABASE_URL", f"sqlite:///{tmp_path / 'none.sqlite3'}")

    result = CliRunner().invoke(cli, ["db", "pending"])

    assert result.exit_code == 1
    assert "0001" in result.output.split()
    assert list(tmp_path.iterdir()) == []


def test_db_upgrade_creates_the_database_file_and_its_folder(environment, tmp_path):
    path = tmp_path / "instance" / "biller.sqlite3"
    environment.setenv("BILLER_DATABASE_URL", f"sqlite:///{path}")

    result = CliRunner().invoke(cli, ["db", "upgrade"])

    assert result.exit_code == 0, result.output
    engine = sa.create_engine(f"sqlite:///{path}")
    assert "workers" in sa.inspect(engine).get_table_names()
    engine.dispose()
