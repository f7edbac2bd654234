"""The migrations create exactly the schema the models describe, on both databases."""

import threading

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from biller_server.persistence.database import create_engine_for, create_sqlite_file
from biller_server.persistence.migrate import pending_revisions, schema_state, upgrade
from biller_server.persistence.models import Base, Customer
from tests.conftest import make_settings


def test_migrations_match_the_models(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_no_migration_is_pending_after_upgrade(engine):
    assert pending_revisions(engine) == []


def test_upgrade_creates_the_schema_on_an_empty_sqlite_file(tmp_path):
    engine = create_engine_for(make_settings(f"sqlite:///{tmp_path / 'fresh.sqlite3'}"))
    assert pending_revisions(engine) != []
    upgrade(engine)
    assert set(sa.inspect(engine).get_table_names()) >= {
        "customers",
        "bills",
        "payments",
        "receipts",
        "inbound_messages",
        "jobs",
        "outbound_calls",
    }
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    create_sqlite_file(f"sqlite:///{tmp_path / 'wal.sqlite3'}")
    engine = create_engine_for(make_settings(f"sqlite:///{tmp_path / 'wal.sqlite3'}"))
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_two_concurrent_sqlite_writers_never_see_database_is_locked(tmp_path):
    engine = create_engine_for(make_settings(f"sqlite:///{tmp_path / 'race.sqlite3'}"))
    upgrade(engine)
    errors: list[BaseException] = []
    writes_each = 150

    def writer(tag: str) -> None:
        try:
            for n in range(writes_each):
                with engine.begin() as connection:
                    # Read, then write: the pattern that fails under deferred transactions.
                    count = connection.execute(sa.select(sa.func.count()).select_from(Customer)).scalar_one()
                    connection.execute(
                        sa.insert(Customer).values(
                            lender_customer_id=f"{tag}-{n}",
                            name=f"seen {count}",
                            created_at=sa.func.current_timestamp(),
                            updated_at=sa.func.current_timestamp(),
                        )
                    )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(tag,)) for tag in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(Customer)).scalar_one() == 2 * writes_each
    engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgresql_sessions_have_a_statement_timeout(engine, backend):
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "10s"


def test_a_missing_sqlite_file_is_never_created_by_connecting(tmp_path):
    path = tmp_path / "instance" / "biller.sqlite3"
    engine = create_engine_for(make_settings(f"sqlite:///{path}"))

    with pytest.raises(sa.exc.OperationalError, match="unable to open database file"):
        engine.connect()

    assert schema_state(engine).status == "missing"
    assert not path.parent.exists()  # not even its folder
    engine.dispose()


def test_the_schema_state_says_behind_then_current(tmp_path):
    engine = create_engine_for(make_settings(f"sqlite:///{tmp_path / 'state.sqlite3'}"))
    upgrade(engine, "0001")

    behind = schema_state(engine)
    assert (behind.status, behind.revision) == ("behind", "0001")
    assert behind.head in behind.pending and "0001" not in behind.pending

    upgrade(engine)
    current = schema_state(engine)
    assert (current.status, current.revision, current.pending) == ("current", current.head, ())
    engine.dispose()


def test_a_database_migrated_by_a_newer_release_is_ahead(tmp_path):
    engine = create_engine_for(make_settings(f"sqlite:///{tmp_path / 'ahead.sqlite3'}"))
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))

    assert schema_state(engine).status == "ahead"
    engine.dispose()
