"""A bill fetch's reads and its inbound log row, with real commits: on PostgreSQL no transaction is opened around
them (each statement commits by itself, two round trips fewer), and the row is committed before the answer."""

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


def _fetch_watching_statements(app, identifier: str) -> tuple[int, list[tuple[str, bool]]]:
    """The answer's status, and each statement the app sent with whether its connection was in autocommit."""
    engine = app.extensions[DB_KEY].engine
    seen: list[tuple[str, bool]] = []

    def watch(connection, _cursor, statement, *_rest):
        dbapi_connection = connection.connection.dbapi_connection
        autocommit = bool(getattr(dbapi_connection, "autocommit", False)) if backend_is_postgresql(engine) else False
        seen.append((statement.split(None, 1)[0], autocommit))

    sa.event.listen(engine, "before_cursor_execute", watch)
    try:
        response = app.test_client().post(
            "/bills/fetchBills",
            json=[{"identifierKey": "customerId", "identifierValue": identifier}],
            headers={"X-API-Key": KALEIDOFIN_KEY},
        )
    finally:
        sa.event.remove(engine, "before_cursor_execute", watch)
    return response.status_code, seen


def backend_is_postgresql(engine) -> bool:
    return engine.dialect.name == "postgresql"


def test_a_fetch_and_its_log_row_commit_without_a_transaction_of_their_own_on_postgresql(committing_app, engine):
    _seed_customer(engine)

    status, statements = _fetch_watching_statements(committing_app, "COMMITS-1")

    assert status == 200
    if backend_is_postgresql(engine):
        assert statements == [("SELECT", True), ("INSERT", True)]
    else:  # SQLite: one transaction, begun by the engine's own BEGIN IMMEDIATE (it writes the log row)
        assert statements == [("BEGIN", False), ("SELECT", False), ("INSERT", False)]
    with Session(engine) as session:
        logged = session.scalars(sa.select(InboundMessage)).one()
    assert (logged.status_code, logged.outcome, logged.partner_ref) == (200, "available", "COMMITS-1")


def test_a_refused_fetch_is_logged_the_same_way(committing_app, engine):
    status, statements = _fetch_watching_statements(committing_app, "NOBODY")

    assert status == 400
    assert [kind for kind, _ in statements if kind != "BEGIN"] == ["SELECT", "INSERT"]
    with Session(engine) as session:
        logged = session.scalars(sa.select(InboundMessage)).one()
    assert (logged.status_code, logged.outcome) == (400, "refused:customer-not-found")


def test_the_connection_goes_back_to_the_pool_in_transactions_again(committing_app, engine):
    _seed_customer(engine)
    _fetch_watching_statements(committing_app, "COMMITS-1")

    with committing_app.extensions[DB_KEY].transaction() as session:
        dbapi_connection = session.connection().connection.dbapi_connection
        assert not getattr(dbapi_connection, "autocommit", False)
