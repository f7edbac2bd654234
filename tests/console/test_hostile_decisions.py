"""Hostile input to the decision and reconciliation forms: a script in a note, the evidence or a break's key is
shown as text; a bad id, a field sent twice or a form without its token gets a clear answer, never a 500, and
changes nothing."""

import pytest
import sqlalchemy as sa

from biller_server.persistence.models import (
    AuditEntry,
    Channel,
    Payment,
    PaymentNotification,
    PaymentStatus,
    ReconciliationAck,
)
from tests.console.conftest import form_token
from tests.console.test_decisions import held
from tests.console.test_hostile_input import ESCAPED, SCRIPT
from tests.console.test_settlement import bank_entry
from tests.factories import PaymentFactory


@pytest.fixture
def unresolved(session):
    return PaymentFactory(status=PaymentStatus.UNRESOLVED, partner_txn_ref="TXN-HOSTILE")


def test_a_script_in_the_note_and_the_evidence_is_shown_as_text(signed_in, unresolved):
    client = signed_in("operator")
    path = f"/console/payments/{unresolved.id}"
    client.post(
        f"{path}/resolve",
        data={"csrf_token": form_token(client, path), "decision": "confirmed", "note": SCRIPT, "evidence": SCRIPT},
    )

    for page_path in (path, "/console/audit"):
        page = client.get(page_path).text
        assert SCRIPT not in page and ESCAPED in page, page_path


def test_a_script_in_a_dismissal_note_is_shown_as_text(signed_in, session):
    notification = held(session, "DL-HOSTILE")
    client = signed_in("operator")
    path = f"/console/notifications/{notification.id}"
    client.post(f"{path}/dismiss", data={"csrf_token": form_token(client, path), "note": SCRIPT})

    page = client.get(path).text

    assert SCRIPT not in page and ESCAPED in page


def test_a_script_as_a_breaks_key_is_shown_as_text(signed_in, session):
    client = signed_in("operator")
    response = client.post(
        "/console/reports/settlement/ack",
        data={"csrf_token": form_token(client, "/console/today"), "key": SCRIPT, "note": "looked"},
    )

    page = client.get(response.headers["Location"]).text
    assert SCRIPT not in page and "&lt;script&gt;" in page
    session.expire_all()
    assert session.scalars(sa.select(ReconciliationAck)).all() == []


def test_a_script_in_an_ack_note_is_shown_as_text(signed_in, session):
    entry = bank_entry(session, utr="UTR-HOSTILE")
    day = entry.value_date.isoformat()
    client = signed_in("operator")
    path = f"/console/reports/settlement?date={day}"
    client.post(
        "/console/reports/settlement/ack",
        data={"csrf_token": form_token(client, path), "key": f"in_bank_unknown:{entry.id}", "note": SCRIPT},
    )

    for page_path in (path, "/console/audit"):
        page = client.get(page_path).text
        assert "Acknowledged (1)" in page or page_path.endswith("audit")
        assert SCRIPT not in page and ESCAPED in page, page_path


@pytest.mark.parametrize(
    "path",
    [
        "/console/payments/abc/resolve",
        "/console/payments/-1/resolve",
        "/console/payments/1%00/recheck",
        "/console/notifications/x/match",
        "/console/notifications/1.5/dismiss",
    ],
)
def test_an_id_that_is_not_a_number_is_not_found(signed_in, path):
    client = signed_in("operator")

    response = client.post(path, data={"csrf_token": form_token(client, "/console/today"), "note": "a note"})

    assert response.status_code == 404


def test_a_payment_or_notification_that_does_not_exist_is_said(signed_in, session):
    client = signed_in("operator")
    token = form_token(client, "/console/today")

    response = client.post(
        "/console/payments/999999/resolve", data={"csrf_token": token, "decision": "failed", "note": "gone?"}
    )

    assert "Nothing done: no payment 999999" in client.get(response.headers["Location"]).text
    assert client.get("/console/notifications/999999").status_code == 404


@pytest.mark.parametrize(
    "path",
    ["/console/payments/2147483648", "/console/inbound/99999999999999", "/console/notifications/2147483648"],
)
def test_an_id_larger_than_any_row_is_not_found_on_either_database(signed_in, path):
    client = signed_in("operator")

    assert client.get(path).status_code == 404
    assert client.post(path + "/resolve", data={"csrf_token": form_token(client, "/console/today")}).status_code in (
        404,
        405,
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"payment_id": "abc", "note": "typed wrong"},
        {"payment_id": "99999999999999999999", "note": "too large"},
        {"payment_id": "0", "note": "zero"},
        {"payment_id": "1", "note": "a\x00b"},
        {"payment_id": "1", "note": "x" * 2001},
        {"payment_id": "1"},
    ],
)
def test_a_bad_match_form_is_refused_with_a_reason_and_changes_nothing(signed_in, session, fields):
    notification = held(session, "DL-BAD")
    client = signed_in("operator")
    path = f"/console/notifications/{notification.id}"

    response = client.post(f"{path}/match", data={"csrf_token": form_token(client, path), **fields})

    assert response.status_code == 302
    assert "Nothing done: " in client.get(response.headers["Location"]).text
    session.expire_all()
    assert session.get(PaymentNotification, notification.id).needs_reconciliation is True


@pytest.mark.parametrize(
    "fields",
    [
        {"decision": "maybe", "note": "a note"},
        {"decision": ["failed", "confirmed"], "note": "twice"},
        {"decision": "failed", "note": "ok note", "override": "please"},
        {"decision": "failed", "note": "ok note", "evidence": "e" * 201},
    ],
)
def test_a_bad_resolve_form_is_refused_with_a_reason_and_changes_nothing(signed_in, unresolved, session, fields):
    client = signed_in("operator")
    path = f"/console/payments/{unresolved.id}"

    response = client.post(f"{path}/resolve", data={"csrf_token": form_token(client, path), **fields})

    assert "Nothing done: " in client.get(response.headers["Location"]).text
    session.expire_all()
    assert session.get(Payment, unresolved.id).status is PaymentStatus.UNRESOLVED


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/console/payments/{payment}/resolve", {"decision": "failed", "note": "no token"}),
        ("/console/payments/{payment}/recheck", {}),
        ("/console/notifications/{notification}/match", {"payment_id": "{payment}", "note": "no token"}),
        ("/console/notifications/{notification}/dismiss", {"note": "no token"}),
        ("/console/reports/settlement/ack", {"key": "in_bank_unknown:1", "note": "no token"}),
    ],
)
def test_a_form_without_its_token_is_refused_before_anything_runs(signed_in, session, path, data):
    payment = PaymentFactory(status=PaymentStatus.UNRESOLVED, channel=Channel.DIGILEDGE)
    notification = held(session, "DL-CSRF")
    ids = {"payment": payment.id, "notification": notification.id}
    client = signed_in("operator")

    response = client.post(path.format(**ids), data={key: value.format(**ids) for key, value in data.items()})

    assert response.status_code == 400 and "not sent from a page of this console" in response.text
    session.expire_all()
    assert session.get(Payment, payment.id).status is PaymentStatus.UNRESOLVED
    assert session.get(PaymentNotification, notification.id).needs_reconciliation is True
    assert session.scalars(sa.select(ReconciliationAck)).all() == []
    refused = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "csrf_refused")).one()
    assert refused.outcome == "refused"
