"""A person's decisions from the console: resolve and re-check a payment, match or dismiss a held notification;
each through the same domain function as its command, audited, the result on the page; a viewer refused by the
server, form or no form."""

import datetime as dt

import pytest
import sqlalchemy as sa

from biller_server.domain.payments.confirmations import enqueue_payment_confirmation
from biller_server.domain.payments.outcomes import mark_payment_unresolved
from biller_server.extensions import get_db
from biller_server.persistence.models import (
    AuditEntry,
    Bill,
    BillStatus,
    Channel,
    Job,
    JobState,
    Payment,
    PaymentNotification,
    PaymentStatus,
)
from tests.console.conftest import SECRET_KEY, form_token
from tests.factories import BillFactory, PaymentFactory, held_notification, post_attempted

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def settings_overrides(tmp_path) -> dict[str, object]:
    return {
        "console_enabled": True,
        "console_secret_key": SECRET_KEY,
        "instance_dir": tmp_path / "instance",
        "partner_read_timeout_seconds": 0.2,  # how long a recheck waits for a worker's answer
    }


@pytest.fixture
def unresolved(session):
    """A Kaleidofin payment whose confirmation gave up: its job finished UNRESOLVED, its amount on the bill."""
    bill = BillFactory(partner_bill_id="TEST-124", amount_paise=100_000, paid_paise=100_000, status=BillStatus.PAID)
    payment = PaymentFactory(bill=bill, partner_txn_ref="TXN-STUCK")
    job = enqueue_payment_confirmation(session=session, payment=payment, confirm_with="kaleidofin", now=NOW)
    session.flush()
    job.state, job.outcome, job.attempts = JobState.UNRESOLVED, "pending", 347
    mark_payment_unresolved(session=session, payment=payment, source="kaleidofin:check", reason="no answer", now=NOW)
    session.flush()
    return payment


def post(client, path, data, *, token_from=None):
    token = form_token(client, token_from) if token_from else None
    return client.post(path, data={**({"csrf_token": token} if token else {}), **data})


def resolve(client, payment, **data):
    fields = {"decision": "failed", "note": "Kaleidofin ops: never debited"} | data
    return post(client, f"/console/payments/{payment.id}/resolve", fields, token_from=f"/console/payments/{payment.id}")


def entries(session, action):
    session.expire_all()
    return list(session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_an_operator_resolves_an_unresolved_payment_and_sees_the_bill_and_the_audit_change(
    signed_in, unresolved, session
):
    client = signed_in("operator")

    response = resolve(client, unresolved, evidence="ticket KF-991")

    assert response.status_code == 302
    page = client.get(response.headers["Location"]).text
    assert f"Payment {unresolved.id} is now FAILED" in page
    assert "Kaleidofin ops: never debited" in page and "evidence: ticket KF-991" in page
    session.expire_all()
    assert session.get(Payment, unresolved.id).status is PaymentStatus.FAILED
    bill = session.get(Bill, unresolved.bill_id)
    assert (bill.paid_paise, bill.status) == (0, BillStatus.OPEN)
    (entry,) = entries(session, "payment.resolve.failed")
    assert (entry.actor, entry.outcome, entry.target, entry.note) == (
        "operator",
        "ok",
        f"payment:{unresolved.id}",
        "Kaleidofin ops: never debited",
    )
    assert entry.source_address and entry.request_id  # the console's request, as every console entry
    assert entry.detail["evidence"] == "ticket KF-991"


def test_the_same_decision_again_changes_nothing_and_says_so(signed_in, unresolved):
    client = signed_in("operator")
    resolve(client, unresolved, decision="confirmed")

    again = resolve(client, unresolved, decision="confirmed")

    assert "is already CONFIRMED (nothing changed)" in client.get(again.headers["Location"]).text


def test_a_note_is_required(signed_in, unresolved, session):
    client = signed_in("operator")

    response = resolve(client, unresolved, note=" ")

    assert "Nothing done: note:" in client.get(response.headers["Location"]).text
    session.expire_all()
    assert session.get(Payment, unresolved.id).status is PaymentStatus.UNRESOLVED


def test_a_final_payment_is_refused_without_the_override_box_and_the_refusal_is_audited(signed_in, session):
    payment = PaymentFactory(status=PaymentStatus.CONFIRMED)
    client = signed_in("operator")

    page = client.get(f"/console/payments/{payment.id}").text
    assert "Override: put my decision over the final status CONFIRMED" in page

    response = resolve(client, payment)

    assert "already CONFIRMED; tick the override box" in client.get(response.headers["Location"]).text
    session.expire_all()
    assert session.get(Payment, payment.id).status is PaymentStatus.CONFIRMED
    (entry,) = entries(session, "payment.resolve.failed")
    assert entry.outcome == "failed" and "already CONFIRMED" in entry.detail["error"]


def test_the_override_box_puts_the_decision_over_a_final_status(signed_in, session):
    payment = PaymentFactory(status=PaymentStatus.CONFIRMED)
    client = signed_in("operator")

    response = resolve(client, payment, override="yes", note="NPCI says the debit failed")

    assert "overrode CONFIRMED" in client.get(response.headers["Location"]).text
    session.expire_all()
    assert session.get(Payment, payment.id).status is PaymentStatus.FAILED


def test_the_override_box_is_not_offered_for_a_payment_still_open(signed_in, unresolved):
    page = signed_in("operator").get(f"/console/payments/{unresolved.id}").text

    assert 'name="override"' not in page and f"/console/payments/{unresolved.id}/resolve" in page


def test_a_viewer_is_offered_no_action(signed_in, unresolved):
    page = signed_in("viewer").get(f"/console/payments/{unresolved.id}").text

    assert "/resolve" not in page and "/recheck" not in page


@pytest.mark.parametrize(
    ("path", "data", "action"),
    [
        ("resolve", {"decision": "failed", "note": "by hand"}, "payment.resolve"),
        ("recheck", {}, "payment.recheck"),
    ],
)
def test_a_viewer_posting_a_payment_action_by_hand_is_refused_by_the_server(
    signed_in, unresolved, session, path, data, action
):
    client = signed_in("viewer")

    response = post(client, f"/console/payments/{unresolved.id}/{path}", data, token_from="/console/today")

    assert response.status_code == 403
    session.expire_all()
    assert session.get(Payment, unresolved.id).status is PaymentStatus.UNRESOLVED
    (entry,) = entries(session, action)
    assert (entry.actor, entry.outcome, entry.target) == ("viewer", "refused", f"payment:{unresolved.id}")


def test_a_recheck_no_worker_answers_says_it_is_queued(signed_in, unresolved, session):
    client = signed_in("operator")

    response = post(client, f"/console/payments/{unresolved.id}/recheck", {}, token_from="/console/today")

    page = client.get(response.headers["Location"]).text
    assert "Queued: new job" in page and "No answer within 0.2 s" in page
    (entry,) = entries(session, "payment.recheck")
    assert (entry.actor, entry.outcome) == ("operator", "ok")


def test_a_recheck_answered_within_the_read_timeout_shows_the_answer(signed_in, unresolved, monkeypatch):
    def a_worker_answers(_seconds):
        with get_db().transaction() as books:
            job = books.scalars(
                sa.select(Job).where(Job.payment_id == unresolved.id, Job.state == JobState.PENDING)
            ).one()
            job.attempts, job.outcome, job.state = 1, "pending", JobState.DONE

    monkeypatch.setattr("biller_server.domain.payments.decisions.time.sleep", a_worker_answers)
    client = signed_in("operator")

    response = post(client, f"/console/payments/{unresolved.id}/recheck", {}, token_from="/console/today")

    assert f"answer: pending; payment {unresolved.id} is UNRESOLVED" in client.get(response.headers["Location"]).text


def test_a_recheck_of_a_final_payment_is_refused_with_the_reason(signed_in, session):
    payment = PaymentFactory(status=PaymentStatus.FAILED)
    client = signed_in("operator")

    response = post(client, f"/console/payments/{payment.id}/recheck", {}, token_from="/console/today")

    assert "Nothing asked: payment" in client.get(response.headers["Location"]).text
    (entry,) = entries(session, "payment.recheck")
    assert entry.outcome == "failed"


def test_a_post_that_may_have_landed_is_said_beside_the_actions(signed_in, session):
    payment = PaymentFactory(status=PaymentStatus.UNRESOLVED)
    post_attempted(session, payment)

    page = signed_in("operator").get(f"/console/payments/{payment.id}").text

    assert page.count("a post may have landed at 10:00 (IST)") == 2  # the facts, and the resolve form


# Held notifications -------------------------------------------------------------------------------------------------


def held(session, ref_id, *, payment=None, status="SUCCESS"):
    return held_notification(session, ref_id, status=status, payment=payment)


def test_an_operator_matches_a_held_notification_to_a_payment(signed_in, session):
    payment = PaymentFactory(channel=Channel.DIGILEDGE, partner_txn_ref="DL-REAL")
    notification = held(session, "DL-TYPO")
    client = signed_in("operator")
    path = f"/console/notifications/{notification.id}"
    assert "no payment with this refId" in client.get(path).text

    response = post(
        client, f"{path}/match", {"payment_id": str(payment.id), "note": "refId typed wrong"}, token_from=path
    )

    assert f"matched to payment {payment.id}" in client.get(response.headers["Location"]).text
    session.expire_all()
    assert session.get(Payment, payment.id).status is PaymentStatus.CONFIRMED
    assert session.get(PaymentNotification, notification.id).resolution == "matched"
    (entry,) = entries(session, "notification.match")
    assert (entry.actor, entry.note) == ("operator", "refId typed wrong")


def test_a_match_to_another_channels_payment_is_refused_with_the_reason(signed_in, session):
    payment = PaymentFactory(channel=Channel.KALEIDOFIN)
    notification = held(session, "DL-X")
    client = signed_in("operator")
    path = f"/console/notifications/{notification.id}"

    response = post(client, f"{path}/match", {"payment_id": str(payment.id), "note": "this one"}, token_from=path)

    assert "came from digiledge" in client.get(response.headers["Location"]).text
    assert entries(session, "notification.match")[0].outcome == "failed"


def test_an_operator_dismisses_a_held_notification_with_a_note(signed_in, session):
    payment = PaymentFactory(channel=Channel.DIGILEDGE, status=PaymentStatus.FAILED)
    notification = held(session, payment.partner_txn_ref, payment=payment)
    client = signed_in("operator")
    path = f"/console/notifications/{notification.id}"
    assert "contradicts the payment&#39;s final status" in client.get(path).text
    assert f"/console/notifications/{notification.id}" in client.get(f"/console/payments/{payment.id}").text

    response = post(client, f"{path}/dismiss", {"note": "duplicate of the failure"}, token_from=path)

    page = client.get(response.headers["Location"]).text
    assert f"Notification {notification.id} dismissed" in page and "duplicate of the failure" in page
    session.expire_all()
    assert session.get(PaymentNotification, notification.id).needs_reconciliation is False


@pytest.mark.parametrize(("path", "action"), [("match", "notification.match"), ("dismiss", "notification.dismiss")])
def test_a_viewer_posting_a_notification_action_by_hand_is_refused(signed_in, session, path, action):
    payment = PaymentFactory(channel=Channel.DIGILEDGE)
    notification = held(session, "DL-V")
    client = signed_in("viewer")
    page = client.get(f"/console/notifications/{notification.id}").text
    assert "/match" not in page and "/dismiss" not in page

    response = post(
        client,
        f"/console/notifications/{notification.id}/{path}",
        {"payment_id": str(payment.id), "note": "by hand"},
        token_from="/console/today",
    )

    assert response.status_code == 403
    session.expire_all()
    assert session.get(PaymentNotification, notification.id).needs_reconciliation is True
    (entry,) = entries(session, action)
    assert (entry.actor, entry.outcome) == ("viewer", "refused")


def test_today_links_a_held_notification_to_its_page(signed_in, session):
    notification = held(session, "DL-TODAY")

    page = signed_in("viewer").get("/console/today").text

    assert f'href="/console/notifications/{notification.id}"' in page
