import json
import uuid

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from biller_server.cli import cli


@pytest.fixture
def empty_database_url(backend, tmp_path, request):
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    base = make_url(request.getfixturevalue("postgres_url"))
    name = f"biller_empty_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_db_upgrade_creates_the_schema_on_an_empty_database(empty_database_url, monkeypatch):
    monkeypatch.setenv("BILLER_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("BILLER_ENV", "test")
    runner = CliRunner()

    assert runner.invoke(cli, ["db", "pending"]).exit_code == 1
    result = runner.invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "schema at head" in result.output

    again = runner.invoke(cli, ["db", "pending"])
    assert again.exit_code == 0
    assert "schema at head" in again.output
    engine = sa.create_engine(make_url(empty_database_url))
    assert "payments" in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_pending_lists_the_revisions_for_programs_too(empty_database_url, monkeypatch):
    monkeypatch.setenv("BILLER_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("BILLER_ENV", "test")
    runner = CliRunner()

    result = runner.invoke(cli, ["db", "pending", "--format", "json"])

    assert result.exit_code == 1
    revisions = [row["revision"] for row in json.loads(result.output)]
    assert revisions[0].startswith("0001") and len(revisions) == len(set(revisions)) > 1


def test_help_lists_the_command_groups():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("db", "serve"):
        assert f"  {command} " in result.output
