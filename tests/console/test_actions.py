"""Actions: an operator may cancel a bill with a note, or close it with a reason; a viewer is refused by the server,
form or no form."""

import pytest
import sqlalchemy as sa

from biller_server.persistence.models import AuditEntry, Bill, BillStatus
from tests.console.conftest import form_token
from tests.factories import BillFactory, PaymentFactory


@pytest.fixture
def bill(session):
    return BillFactory(partner_bill_id="TEST-124", amount_paise=120_000)


def cancel(client, partner_bill_id="TEST-124", note="Loan closed early at the branch", token=None):
    token = token if token is not None else form_token(client, f"/console/bills/{partner_bill_id}")
    return client.post(
        "/console/bills/cancel", data={"csrf_token": token, "partner_bill_id": partner_bill_id, "note": note}
    )


def audit_entries(session):
    return list(
        session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "cancel_bill").order_by(AuditEntry.id))
    )


def test_an_operator_cancels_a_bill_with_a_note_and_the_audit_log_keeps_it(signed_in, bill, session):
    client = signed_in("operator")

    response = cancel(client)

    assert response.status_code == 302
    page = client.get(response.headers["Location"]).text
    assert "Bill TEST-124 is cancelled." in page and "status-cancelled" in page
    assert "Loan closed early at the branch" in page  # the bill's own audit trail
    session.expire_all()
    assert session.get(Bill, bill.id).status is BillStatus.CANCELLED
    (entry,) = audit_entries(session)
    assert (entry.actor, entry.target, entry.outcome, entry.note) == (
        "operator",
        "bill:TEST-124",
        "ok",
        "Loan closed early at the branch",
    )


def test_the_viewer_is_not_offered_the_action(signed_in, bill):
    page = signed_in("viewer").get("/console/bills/TEST-124").text

    assert "/console/bills/cancel" not in page


def test_a_viewer_posting_the_form_by_hand_is_refused_by_the_server(signed_in, bill, session):
    client = signed_in("viewer")

    response = cancel(client)

    assert response.status_code == 403
    assert "Your role does not allow this" in response.text
    session.expire_all()
    assert session.get(Bill, bill.id).status is BillStatus.OPEN
    refused = session.scalars(sa.select(AuditEntry).where(AuditEntry.outcome == "refused")).one()
    assert (refused.actor, refused.action, refused.target) == ("viewer", "cancel_bill", "bill:TEST-124")


def test_a_note_is_required(signed_in, bill, session):
    client = signed_in("operator")

    response = cancel(client, note="  ")

    page = client.get(response.headers["Location"]).text
    assert "Not cancelled: note:" in page
    session.expire_all()
    assert session.get(Bill, bill.id).status is BillStatus.OPEN


def test_a_bill_with_a_payment_is_not_cancelled_and_the_attempt_is_logged(signed_in, bill, session):
    PaymentFactory(bill=bill)
    client = signed_in("operator")

    response = cancel(client)

    page = client.get(response.headers["Location"]).text
    assert "Not cancelled: bill TEST-124 has a payment and cannot be cancelled." in page
    (entry,) = audit_entries(session)
    assert entry.outcome == "failed" and entry.detail == {
        "error": "bill TEST-124 has a payment and cannot be cancelled"
    }


def test_cancelling_without_the_form_token_is_refused(signed_in, bill, session):
    client = signed_in("operator")

    response = cancel(client, token="")

    assert response.status_code == 400
    session.expire_all()
    assert session.get(Bill, bill.id).status is BillStatus.OPEN


def test_a_post_after_the_session_ended_is_refused(app, bill, staff):
    client = app.test_client()
    token = form_token(client)

    response = client.post(
        "/console/bills/cancel", data={"csrf_token": token, "partner_bill_id": "TEST-124", "note": "no session"}
    )

    assert response.status_code == 401


def test_a_bill_can_be_closed_with_a_reason(signed_in, session):
    bill = BillFactory(partner_bill_id="CL-0001")
    client = signed_in("operator")
    token = form_token(client, "/console/bills/CL-0001")

    response = client.post(
        "/console/bills/close", data={"csrf_token": token, "partner_bill_id": "CL-0001", "reason": "foreclosed 12/11"}
    )

    page = client.get(response.headers["Location"]).text
    assert "Bill CL-0001 is closed." in page and "foreclosed 12/11" in page
    session.expire_all()
    assert session.get(Bill, bill.id).status is BillStatus.CLOSED
    entry = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "close_bill")).one()
    assert (entry.actor, entry.outcome, entry.note, entry.target) == (
        "operator",
        "ok",
        "foreclosed 12/11",
        "bill:CL-0001",
    )


def test_closing_needs_a_reason(signed_in, session):
    bill = BillFactory(partner_bill_id="CL-0001")
    client = signed_in("operator")
    token = form_token(client, "/console/bills/CL-0001")

    response = client.post(
        "/console/bills/close", data={"csrf_token": token, "partner_bill_id": "CL-0001", "reason": ""}
    )

    assert "Not closed: reason:" in client.get(response.headers["Location"]).text
    session.expire_all()
    assert session.get(Bill, bill.id).status is BillStatus.OPEN


def test_a_cancelled_bill_is_not_closed_and_the_attempt_is_logged(signed_in, session):
    BillFactory(partner_bill_id="CL-0001", status=BillStatus.CANCELLED)
    client = signed_in("operator")
    token = form_token(client, "/console/bills/CL-0001")
    assert "Close bill" not in client.get("/console/bills/CL-0001").text

    response = client.post(
        "/console/bills/close", data={"csrf_token": token, "partner_bill_id": "CL-0001", "reason": "written off"}
    )

    assert (
        "Not closed: bill CL-0001 is cancelled; there is nothing to close."
        in client.get(response.headers["Location"]).text
    )
    entry = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "close_bill")).one()
    assert entry.outcome == "failed"


def test_a_viewer_closing_by_hand_is_refused(signed_in, session):
    bill = BillFactory(partner_bill_id="CL-0001")
    client = signed_in("viewer")
    assert "Close bill" not in client.get("/console/bills/CL-0001").text
    token = form_token(client, "/console/bills/CL-0001")

    response = client.post(
        "/console/bills/close", data={"csrf_token": token, "partner_bill_id": "CL-0001", "reason": "by hand"}
    )

    assert response.status_code == 403
    session.expire_all()
    assert session.get(Bill, bill.id).status is BillStatus.OPEN
