"""A bill fetch's reads and its inbound log row, with real commits: on PostgreSQL no transaction is opened around
them (each statement commits by itself, two round trips fewer), and the row is committed before the answer."""

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.extensions import DB_KEY
from biller_server.persistence.models import InboundMessage
from tests.conftest import KALEIDOFIN_KEY
from tests.factories import BillFactory, CustomerFactory, bind


def _seed_customer(engine) -> None:
    with Session(engine) as session:
        bind(session)
        try:
            BillFactory(customer=CustomerFactory(lender_customer_id="COMMITS-1"), partner_bill_id="COMMITS-BILL")
            session.commit()
        finally:
            bind(None)


def _fetch_watching_statements(app, identifier: str, before_select=None) -> tuple[int, list[tuple[str, bool]], object]:
    """The answer's status, each statement the app sent with whether its connection was in autocommit, and the
    driver's connection they went through. ``before_select(dbapi_connection)`` runs just before the SELECT."""
    engine = app.extensions[DB_KEY].engine
    seen: list[tuple[str, bool]] = []
    used = []

    def watch(connection, _cursor, statement, *_rest):
        dbapi_connection = connection.connection.dbapi_connection
        autocommit = bool(getattr(dbapi_connection, "autocommit", False)) if backend_is_postgresql(engine) else False
        seen.append((statement.split(None, 1)[0], autocommit))
        used.append(dbapi_connection)
        if before_select is not None and statement.startswith("SELECT"):
            before_select(dbapi_connection)

    sa.event.listen(engine, "before_cursor_execute", watch)
    try:
        response = app.test_client().post(
            "/bills/fetchBills",
            json=[{"identifierKey": "customerId", "identifierValue": identifier}],
            headers={"X-API-Key": KALEIDOFIN_KEY},
        )
    finally:
        sa.event.remove(engine, "before_cursor_execute", watch)
    return response.status_code, seen, used[0] if used else None


def backend_is_postgresql(engine) -> bool:
    return engine.dialect.name == "postgresql"


def test_a_fetch_and_its_log_row_commit_without_a_transaction_of_their_own_on_postgresql(committing_app, engine):
    _seed_customer(engine)

    status, statements, _ = _fetch_watching_statements(committing_app, "COMMITS-1")

    assert status == 200
    if backend_is_postgresql(engine):
        assert statements == [("SELECT", True), ("INSERT", True)]
    else:  # SQLite: one transaction, begun by the engine's own BEGIN IMMEDIATE (it writes the log row)
        assert statements == [("BEGIN", False), ("SELECT", False), ("INSERT", False)]
    with Session(engine) as session:
        logged = session.scalars(sa.select(InboundMessage)).one()
    assert (logged.status_code, logged.outcome, logged.partner_ref) == (200, "available", "COMMITS-1")


def test_a_refused_fetch_is_logged_the_same_way(committing_app, engine):
    status, statements, _ = _fetch_watching_statements(committing_app, "NOBODY")

    assert status == 400
    if backend_is_postgresql(engine):
        assert statements == [("SELECT", True), ("INSERT", True)]
    else:
        assert statements == [("BEGIN", False), ("SELECT", False), ("INSERT", False)]
    with Session(engine) as session:
        logged = session.scalars(sa.select(InboundMessage)).one()
    assert (logged.status_code, logged.outcome) == (400, "refused:customer-not-found")


def test_on_postgresql_the_connection_goes_back_to_the_pool_out_of_autocommit(committing_app, engine):
    if not backend_is_postgresql(engine):
        pytest.skip("SQLite's connections are never put in autocommit")
    _seed_customer(engine)
    _, _, used = _fetch_watching_statements(committing_app, "COMMITS-1")

    with committing_app.extensions[DB_KEY].transaction() as session:
        dbapi_connection = session.connection().connection.dbapi_connection
        assert dbapi_connection is used  # the pool's last-used connection, handed out again
        assert dbapi_connection.autocommit is False


def test_on_postgresql_a_connection_lost_during_the_fetch_is_a_503_and_the_pool_recovers(committing_app, engine):
    if not backend_is_postgresql(engine):
        pytest.skip("a lost server connection is PostgreSQL's case")
    _seed_customer(engine)

    def terminate(dbapi_connection):
        with engine.connect() as admin:
            admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": dbapi_connection.info.backend_pid})

    status, _, lost = _fetch_watching_statements(committing_app, "COMMITS-1", before_select=terminate)

    assert status == 503
    database = committing_app.extensions[DB_KEY]
    assert database.engine.pool.checkedout() == 0
    status, statements, used = _fetch_watching_statements(committing_app, "COMMITS-1")
    assert status == 200 and used is not lost
    assert statements == [("SELECT", True), ("INSERT", True)]
    with database.transaction() as session:
        assert session.connection().connection.dbapi_connection.autocommit is False
