"""A person's decisions, recorded: payments resolve / recheck, notifications list / match / dismiss (issue 17)."""

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from biller_server.cli import cli
from biller_server.domain.outcomes import Outcome
from biller_server.domain.payments.confirmations import enqueue_payment_confirmation
from biller_server.domain.payments.outcomes import apply_payment_outcome, mark_payment_unresolved
from biller_server.extensions import get_db
from biller_server.persistence.models import (
    AuditEntry,
    BillStatus,
    Channel,
    Job,
    JobKind,
    JobState,
    OutboundCall,
    PaymentEvent,
    PaymentStatus,
)
from tests.factories import BillFactory, PaymentFactory, held_notification, post_attempted

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def unresolved(session):
    """A Kaleidofin payment whose confirmation gave up: its job finished UNRESOLVED, its amount on the bill."""
    bill = BillFactory(amount_paise=100_000, paid_paise=100_000, status=BillStatus.PAID)
    payment = PaymentFactory(bill=bill, partner_txn_ref="TXN-STUCK")
    job = enqueue_payment_confirmation(session=session, payment=payment, confirm_with="kaleidofin", now=NOW)
    session.flush()
    job.state, job.outcome, job.attempts = JobState.UNRESOLVED, "pending", 347
    mark_payment_unresolved(session=session, payment=payment, source="kaleidofin:check", reason="no answer", now=NOW)
    session.flush()
    return payment


def _invoke(runner, *args):
    return runner.invoke(cli, list(args))


def _events(session, payment):
    session.expire_all()
    return list(session.scalars(sa.select(PaymentEvent).where(PaymentEvent.payment_id == payment.id)))


def test_resolve_confirmed_records_who_and_why_and_ends_the_live_job(runner, session):
    payment = PaymentFactory(partner_txn_ref="TXN-LIVE")
    job = enqueue_payment_confirmation(session=session, payment=payment, confirm_with="kaleidofin", now=NOW)
    session.flush()

    result = _invoke(
        runner,
        "payments", "resolve", str(payment.id), "--confirmed", "--note", "Kaleidofin ops confirmed by mail",
        "--evidence", "KF-TICKET-88", "--by", "asha",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert f"payment {payment.id} is now CONFIRMED; confirmation job {job.id} ended" in result.output
    session.refresh(payment)
    session.refresh(job)
    assert payment.status is PaymentStatus.CONFIRMED
    assert (job.state, job.outcome) == (JobState.DONE, "decided")
    [event] = _events(session, payment)
    assert (event.kind, event.source, event.from_status, event.to_status) == (
        "confirmed",
        "person:asha",
        "RECEIVED",
        "CONFIRMED",
    )
    assert event.detail == {
        "reason": "Kaleidofin ops confirmed by mail",
        "decided_by": "asha",
        "note": "Kaleidofin ops confirmed by mail",
        "evidence": "KF-TICKET-88",
    }
    audit = session.scalars(sa.select(AuditEntry).where(AuditEntry.target == f"payment:{payment.id}")).one()
    assert (audit.actor, audit.action, audit.outcome) == ("asha", "payment.resolve.confirmed", "ok")


def test_resolve_failed_takes_the_amount_off_the_bill_once_and_twice_changes_nothing(runner, session, unresolved):
    args = ("payments", "resolve", str(unresolved.id), "--failed", "--note", "customer's bank says not debited")

    first = _invoke(runner, *args)
    second = _invoke(runner, *args)

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert f"payment {unresolved.id} is already FAILED (nothing changed)" in second.output
    session.refresh(unresolved)
    session.refresh(unresolved.bill)
    assert unresolved.status is PaymentStatus.FAILED
    assert (unresolved.bill.paid_paise, unresolved.bill.status) == (0, BillStatus.OPEN)
    assert [event.kind for event in _events(session, unresolved)] == ["unresolved", "failed"]


def test_resolve_is_refused_on_a_final_payment_without_override(runner, session):
    payment = PaymentFactory()
    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="k:check", now=NOW)
    session.flush()

    result = _invoke(runner, "payments", "resolve", str(payment.id), "--failed", "--note", "looks wrong")

    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: payment {payment.id} is already CONFIRMED; add --override to put your decision over it"
    )
    session.refresh(payment)
    assert payment.status is PaymentStatus.CONFIRMED


def test_override_flips_a_flagged_payment_clears_the_flag_and_says_what_it_overrode(runner, session):
    bill = BillFactory(amount_paise=100_000, paid_paise=100_000, status=BillStatus.PAID)
    payment = PaymentFactory(bill=bill)
    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="k:check", now=NOW)
    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.FAILED, source="digiledge", now=NOW)
    session.flush()
    assert payment.flagged

    result = _invoke(
        runner, "payments", "resolve", str(payment.id), "--failed", "--override", "--note", "NPCI says failed"
    )
    again = _invoke(
        runner, "payments", "resolve", str(payment.id), "--failed", "--override", "--note", "NPCI says failed"
    )

    assert result.exit_code == 0, result.output
    assert "is now FAILED; overrode CONFIRMED (flag: digiledge reported failed" in result.output
    assert "(nothing changed)" in again.output
    session.refresh(payment)
    session.refresh(bill)
    assert (payment.status, payment.flagged, payment.flag_reason) == (PaymentStatus.FAILED, False, None)
    assert (bill.paid_paise, bill.status) == (0, BillStatus.OPEN)
    override = _events(session, payment)[-1]
    assert override.kind == "decision_override"
    assert override.detail["overrode"]["status"] == "CONFIRMED"


def test_override_back_to_confirmed_puts_the_amount_back_on_the_bill_once(runner, session):
    bill = BillFactory(amount_paise=100_000, paid_paise=100_000, status=BillStatus.PAID)
    payment = PaymentFactory(bill=bill)
    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.FAILED, source="k:check", now=NOW)
    session.flush()

    for _ in range(2):
        result = _invoke(runner, "payments", "resolve", str(payment.id), "--confirmed", "--override", "--note", "UTR")
        assert result.exit_code == 0, result.output
    session.refresh(bill)
    assert (bill.paid_paise, bill.status) == (100_000, BillStatus.PAID)


def test_resolve_needs_a_decision_and_a_known_payment(runner, unresolved):
    assert "say --confirmed or --failed" in _invoke(runner, "payments", "resolve", "1", "--note", "x").output
    missing = _invoke(runner, "payments", "resolve", "999999", "--confirmed", "--note", "x")
    assert missing.exit_code == 1 and "Error: no payment 999999" in missing.output


def test_recheck_of_an_unresolved_payment_makes_one_new_job_due_now(runner, session, unresolved):
    result = _invoke(runner, "payments", "recheck", str(unresolved.id), "--wait", "0", "--by", "ravi")

    assert result.exit_code == 0, result.output
    job = session.scalars(sa.select(Job).where(Job.payment_id == unresolved.id, Job.state == JobState.PENDING)).one()
    assert f"new job {job.id} will ask kaleidofin once, now" in result.output
    assert "no answer yet (is a worker running?)" in result.output
    assert (job.kind, job.payload["once"]) == (JobKind.CONFIRM_PAYMENT, True)
    assert _events(session, unresolved)[-1].kind == "recheck_requested"

    again = _invoke(runner, "payments", "recheck", str(unresolved.id), "--wait", "0")
    assert f"job {job.id} will ask kaleidofin now" in again.output
    assert session.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.payment_id == unresolved.id)) == 2


def test_recheck_of_a_final_payment_is_refused(runner, session):
    payment = PaymentFactory()
    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="k:check", now=NOW)
    session.flush()
    result = _invoke(runner, "payments", "recheck", str(payment.id), "--wait", "0")
    assert result.exit_code == 1 and f"payment {payment.id} is already CONFIRMED: nothing to ask" in result.output


def _held(session, ref_id, status="Successful", payment=None):
    return held_notification(session, ref_id, status=status, payment=payment)


def test_notifications_list_shows_the_held_ones_with_why(runner, session):
    unknown = _held(session, "REF-UNKNOWN")
    listed = json.loads(_invoke(runner, "notifications", "list", "--format", "json").output)
    assert [(row["id"], row["ref_id"], row["held_because"]) for row in listed] == [
        (unknown.id, "REF-UNKNOWN", "no payment with this refId")
    ]


def test_notifications_match_applies_the_verdict_once_audited(runner, session):
    payment = PaymentFactory(channel=Channel.DIGILEDGE, partner_txn_ref="REF-OURS")
    notification = _held(session, "REF-TYPO")

    first = _invoke(runner, "notifications", "match", str(notification.id), str(payment.id), "--by", "asha")
    second = _invoke(runner, "notifications", "match", str(notification.id), str(payment.id))

    assert first.exit_code == 0, first.output
    assert f"matched to payment {payment.id}: confirmed" in first.output
    assert "(nothing changed)" in second.output
    session.refresh(payment)
    session.refresh(notification)
    assert payment.status is PaymentStatus.CONFIRMED
    assert (notification.needs_reconciliation, notification.resolution, notification.resolved_by) == (
        False,
        "matched",
        "asha",
    )
    [event] = _events(session, payment)
    assert event.detail["notification"] == notification.id and event.detail["decided_by"] == "asha"
    assert "REF-TYPO" not in _invoke(runner, "notifications", "list").output


def test_notifications_match_refuses_another_channels_payment(runner, session):
    payment = PaymentFactory(channel=Channel.KALEIDOFIN)
    notification = _held(session, "REF-X")
    result = _invoke(runner, "notifications", "match", str(notification.id), str(payment.id))
    assert result.exit_code == 1 and "came from digiledge" in result.output


def test_notifications_dismiss_needs_a_note_and_is_idempotent(runner, session):
    notification = _held(session, "REF-TEST-TRAFFIC")

    assert _invoke(runner, "notifications", "dismiss", str(notification.id)).exit_code == 2
    first = _invoke(runner, "notifications", "dismiss", str(notification.id), "--note", "sandbox traffic")
    second = _invoke(runner, "notifications", "dismiss", str(notification.id), "--note", "sandbox traffic")

    assert first.output.strip() == f"notification {notification.id} dismissed"
    assert second.output.strip() == f"notification {notification.id} is already dismissed (nothing changed)"
    session.refresh(notification)
    assert (notification.resolution, notification.resolution_note) == ("dismissed", "sandbox traffic")


def test_override_settles_the_notification_that_contradicted_the_payment(runner, session):
    payment = PaymentFactory(channel=Channel.DIGILEDGE)
    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="d:check", now=NOW)
    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.FAILED, source="d_notif", now=NOW)
    notification = _held(session, payment.partner_txn_ref, status="Failure", payment=payment)

    matched = _invoke(runner, "notifications", "match", str(notification.id), str(payment.id))
    assert matched.exit_code == 1 and "payments resolve --override" in matched.output

    _invoke(runner, "payments", "resolve", str(payment.id), "--failed", "--override", "--note", "NPCI: failed")
    session.refresh(notification)
    assert (notification.needs_reconciliation, notification.resolution) == (False, "decided")


def test_show_and_unresolved_warn_that_a_post_may_have_landed(runner, session):
    """A worker killed while its Payment API post was in flight: the call row written before sending says so."""
    payment = PaymentFactory(channel=Channel.OFFLINE, partner_txn_ref="OFF-1", partner_bill_ref="SB-1")
    job = Job(
        kind=JobKind.RECORD_OFFLINE_PAYMENT,
        partner="kaleidofin",
        payment_id=payment.id,
        payload={"system_bill_id": "SB-1", "post_attempted_at": "2026-11-02T08:35:00+00:00"},
        anchor_at=NOW,
        due_at=NOW,
        attempts=2,
        state=JobState.STOPPED,
    )
    session.add(job)
    session.flush()
    session.add(
        OutboundCall(
            job_id=job.id,
            created_at=dt.datetime(2026, 11, 2, 8, 35, tzinfo=dt.UTC),
            partner="kaleidofin",
            operation="payment",
            method="POST",
            url="https://kaleidofin.example/payment",
            request_body="{}",
        )
    )
    mark_payment_unresolved(session=session, payment=payment, source="kaleidofin:post", reason="stopped", now=NOW)
    session.flush()

    shown = _invoke(runner, "payments", "show", str(payment.id))
    listed = json.loads(_invoke(runner, "payments", "unresolved", "--format", "json").output)

    assert "a post may have landed at 14:05 (IST) on 02 Nov 2026" in shown.output
    assert "sent; no answer recorded (the partner may have it)" in shown.output
    assert listed[0]["warning"] == "a post may have landed at 14:05 (IST) on 02 Nov 2026"


def test_a_post_made_before_calls_were_written_ahead_is_found_by_the_jobs_mark(runner, session):
    payment = PaymentFactory(channel=Channel.OFFLINE, partner_txn_ref="OFF-2")
    post_attempted(session, payment)
    assert "a post may have landed at 10:00 (IST)" in _invoke(runner, "payments", "show", str(payment.id)).output


def test_recheck_prints_the_answer_a_worker_records_while_it_waits(runner, session, unresolved, monkeypatch):
    def a_worker_answers(_seconds):
        # A worker elsewhere records the answer while the command waits (through the app's own database).
        with get_db().transaction() as books:
            job = books.scalars(
                sa.select(Job).where(Job.payment_id == unresolved.id, Job.state == JobState.PENDING)
            ).one()
            job.attempts, job.outcome, job.state = 1, "pending", JobState.DONE

    monkeypatch.setattr("biller_server.domain.payments.decisions.time.sleep", a_worker_answers)

    result = _invoke(runner, "payments", "recheck", str(unresolved.id), "--wait", "5")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"answer: pending; payment {unresolved.id} is UNRESOLVED"


def test_an_id_larger_than_any_row_is_no_payment_on_either_database(runner):
    result = _invoke(runner, "payments", "resolve", "99999999999", "--failed", "--note", "typo")

    assert result.exit_code == 1 and "no payment 99999999999" in result.output
    dismissed = _invoke(runner, "notifications", "dismiss", "99999999999", "--note", "typo")
    assert dismissed.exit_code == 1 and "no notification 99999999999" in dismissed.output
