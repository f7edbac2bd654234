"""Hot-path statements on the driver's cursor give what SQLAlchemy's execution gives: values, errors, events."""

import datetime as dt

import pytest
import sqlalchemy as sa

from biller_server.persistence.direct import DirectStatement
from biller_server.persistence.models import Bill, BillStatus, Channel, ChannelBillReference
from biller_server.persistence.rows import bound_columns
from tests.factories import BillFactory

_BILLS = Bill.__table__
_BILL_BY_PARTNER_ID = sa.select(*_BILLS.columns).where(
    _BILLS.c.partner_bill_id == sa.bindparam("partner_bill_id"),
    sa.or_(_BILLS.c.status == BillStatus.OPEN, _BILLS.c.status == BillStatus.PARTIALLY_PAID),
)
_REFERENCES = ChannelBillReference.__table__
_INSERT_REFERENCE = DirectStatement(
    sa.insert(_REFERENCES).values(bound_columns(_REFERENCES, ["channel", "partner_bill_ref", "bill_id", "created_at"]))
)


def test_rows_hold_the_values_sqlalchemy_would_give(session):
    BillFactory(partner_bill_id="DIRECT-1", due_date=dt.date(2026, 12, 10))
    session.flush()
    parameters = {"partner_bill_id": "DIRECT-1"}

    direct = DirectStatement(_BILL_BY_PARTNER_ID).rows(session, parameters)

    assert direct == [tuple(row) for row in session.execute(_BILL_BY_PARTNER_ID, parameters)]
    row = dict(zip(_BILLS.columns.keys(), direct[0], strict=True))
    assert row["status"] is BillStatus.OPEN  # the enum, not its stored name
    assert row["due_date"] == dt.date(2026, 12, 10)  # a date on SQLite too, not its text
    assert row["created_at"].tzinfo is not None  # in UTC, as the column type gives it


def test_a_value_bound_when_the_statement_was_built_filters_as_written(session):
    BillFactory(partner_bill_id="DIRECT-PAID", status=BillStatus.PAID)
    session.flush()

    assert DirectStatement(_BILL_BY_PARTNER_ID).rows(session, {"partner_bill_id": "DIRECT-PAID"}) == []


def test_a_missing_value_is_refused_rather_than_bound_as_null(session):
    with pytest.raises(sa.exc.InvalidRequestError, match="partner_bill_id"):
        DirectStatement(_BILL_BY_PARTNER_ID).rows(session, {})


def test_an_in_list_is_refused_when_the_statement_is_first_run(session):
    statement = DirectStatement(sa.select(_BILLS.c.id).where(_BILLS.c.status.in_([BillStatus.OPEN])))

    with pytest.raises(ValueError, match="rendered per call"):
        statement.rows(session, {})


def test_a_driver_error_is_sqlalchemys_exception_and_the_session_can_roll_back(session):
    bill = BillFactory(partner_bill_id="DIRECT-DUP")
    session.flush()
    values = {
        "channel": Channel.SETU,
        "partner_bill_ref": "REF-1",
        "bill_id": bill.id,
        "created_at": dt.datetime.now(dt.UTC),
    }
    _INSERT_REFERENCE.run(session, values)

    with pytest.raises(sa.exc.IntegrityError):
        _INSERT_REFERENCE.run(session, values)

    session.rollback()
    assert DirectStatement(_BILL_BY_PARTNER_ID).rows(session, {"partner_bill_id": "DIRECT-DUP"}) == []  # rolled back


def test_a_column_sqlalchemy_would_fill_in_is_refused_rather_than_written_null(session):
    statement = DirectStatement(sa.insert(_BILLS).values(bound_columns(_BILLS, ["partner_bill_id"])))

    with pytest.raises(ValueError, match="created_at"):
        statement.run(session, {"partner_bill_id": "DIRECT-DEFAULTS"})


def test_statement_listeners_see_the_statement(session):
    seen = []
    sa.event.listen(session.connection(), "before_cursor_execute", lambda *args: seen.append(args[2]))

    DirectStatement(_BILL_BY_PARTNER_ID).rows(session, {"partner_bill_id": "DIRECT-NONE"})

    assert len(seen) == 1 and seen[0].startswith("SELECT bills.id")
