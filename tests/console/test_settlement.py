"""Reconciliation in the console: the settlement report of a chosen day with its CSV, a break acknowledged with a
note, breaks older than a day on Today, and Find by UTR (a payment's, a settlement line's, a bank entry's)."""

import csv
import datetime as dt
import io

import pytest
import sqlalchemy as sa

from biller_server.domain.india import india_today
from biller_server.domain.settlement import record_partner_settlement
from biller_server.persistence.models import AuditEntry, BankEntry, Channel, PaymentStatus, ReconciliationAck
from tests.console.conftest import form_token
from tests.factories import PaymentFactory

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 28)
UTR = "N332261234567890"
KEY = f"settled_not_in_bank:kaleidofin:{UTR}"


@pytest.fixture
def settled(session):
    """Kaleidofin says it sent ₹3,500 under UTR for two payments; the bank shows nothing: one open break."""
    for ref in ("KF-1", "KF-2"):
        PaymentFactory(channel=Channel.KALEIDOFIN, partner_txn_ref=ref, status=PaymentStatus.CONFIRMED)
    record_partner_settlement(
        session=session,
        partner="kaleidofin",
        settlement_ref=UTR,
        settled_on=DAY,
        amount_paise=350_000,
        payment_refs=["KF-1", "KF-2"],
        source="test",
        now=NOW,
    )
    session.flush()


def bank_entry(session, *, utr, day=DAY, amount_paise=350_000):
    entry = BankEntry(
        value_date=day,
        amount_paise=amount_paise,
        credit=True,
        narration=f"NEFT-{utr}-KALEIDOFIN SETTLEMENT",
        utr=utr,
        fingerprint=utr.ljust(64, "0"),
        source_file="statement.csv",
    )
    session.add(entry)
    session.flush()
    return entry


def test_the_settlement_report_shows_each_kind_of_break_and_the_matched(signed_in, settled, session):
    bank_entry(session, utr="UNKNOWN-UTR-1", amount_paise=12_345)

    page = signed_in("viewer").get(f"/console/reports/settlement?date={DAY}").text

    assert "Settlement report, 2026-11-28" in page
    assert KEY in page and "settled_not_in_bank" in page and "in_bank_unknown" in page
    assert "Nothing matched." in page
    assert "/console/reports/settlement/ack" not in page  # a viewer is offered no acknowledgement


def test_a_matched_line_is_shown_matched(signed_in, settled, session):
    bank_entry(session, utr=UTR)

    page = signed_in("viewer").get(f"/console/reports/settlement?date={DAY}").text

    assert "No open breaks: the day is reconciled." in page and UTR in page


def test_an_operator_acknowledges_a_break_with_a_note(signed_in, settled, session):
    client = signed_in("operator")
    path = f"/console/reports/settlement?date={DAY}"

    response = client.post(
        "/console/reports/settlement/ack",
        data={"csrf_token": form_token(client, path), "key": KEY, "note": "bank confirms credit on 1 Dec", "date": DAY},
    )

    assert response.headers["Location"].endswith(f"/console/reports/settlement?date={DAY}")
    page = client.get(response.headers["Location"]).text
    assert f"Break {KEY} acknowledged." in page and "No open breaks" in page and "bank confirms credit on 1 Dec" in page
    session.expire_all()
    assert session.scalars(sa.select(ReconciliationAck)).one().acked_by == "operator"
    entry = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "settlement.ack")).one()
    assert (entry.actor, entry.target, entry.outcome) == ("operator", KEY, "ok")


def test_a_key_that_names_no_break_is_refused_with_the_reason(signed_in, session):
    client = signed_in("operator")

    response = client.post(
        "/console/reports/settlement/ack",
        data={"csrf_token": form_token(client, "/console/today"), "key": "not-a-key", "note": "x" * 5},
    )

    assert "is not a break&#39;s key" in client.get(response.headers["Location"]).text
    session.expire_all()
    assert session.scalars(sa.select(ReconciliationAck)).all() == []


def test_a_viewer_acknowledging_by_hand_is_refused(signed_in, settled, session):
    client = signed_in("viewer")

    response = client.post(
        "/console/reports/settlement/ack",
        data={"csrf_token": form_token(client, "/console/today"), "key": KEY, "note": "by hand"},
    )

    assert response.status_code == 403
    session.expire_all()
    assert session.scalars(sa.select(ReconciliationAck)).all() == []
    entry = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "settlement.ack")).one()
    assert (entry.actor, entry.outcome, entry.target) == ("viewer", "refused", KEY)


def test_the_csv_has_a_row_per_break_and_its_download_is_audited(signed_in, settled, session):
    response = signed_in("viewer").get(f"/console/reports/settlement.csv?date={DAY}")

    assert response.mimetype == "text/csv"
    assert "settlement-report-2026-11-28.csv" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(row["section"], row["key"], row["expected_paise"]) for row in rows] == [("break", KEY, "350000")]
    session.expire_all()
    assert session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "download_settlement_report")).one()


def test_a_day_that_is_not_one_is_refused_in_a_sentence(signed_in):
    response = signed_in("viewer").get("/console/reports/settlement?date=2026-13-45")

    assert response.status_code == 400 and "date" in response.text


def test_today_lists_a_break_open_for_more_than_a_day_linking_to_its_report(signed_in, session):
    day = india_today() - dt.timedelta(days=3)
    PaymentFactory(channel=Channel.KALEIDOFIN, partner_txn_ref="KF-OLD", status=PaymentStatus.CONFIRMED)
    record_partner_settlement(
        session=session,
        partner="kaleidofin",
        settlement_ref="UTR-OLD-1",
        settled_on=day,
        amount_paise=100_000,
        payment_refs=["KF-OLD"],
        source="test",
        now=NOW,
    )
    session.flush()

    page = signed_in("viewer").get("/console/today").text

    assert "Reconciliation breaks open for more than a day (1)" in page
    assert f"/console/reports/settlement?date={day.isoformat()}#settled_not_in_bank:kaleidofin:UTR-OLD-1" in page


def test_find_by_utr_shows_the_payments_the_settlement_line_and_the_bank_entry(signed_in, settled, session):
    bank_entry(session, utr=UTR)

    page = signed_in("viewer").get(f"/console/find?q={UTR}").text

    assert "Settlement lines (1)" in page and "Bank entries (1)" in page and "Payments (2)" in page
    assert "KF-1" in page and "KF-2" in page


def test_find_by_a_bank_entrys_utr_alone(signed_in, session):
    bank_entry(session, utr="SBIN0000099887766")

    page = signed_in("viewer").get("/console/find?q=SBIN0000099887766").text

    assert "Bank entries (1)" in page and "Nothing carries" not in page
