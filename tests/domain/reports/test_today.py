"""The Today page's figures: collections by India-time hour, what needs a person, partner health."""

import datetime as dt

from biller_server.domain.reports.today import collections_by_hour, needs_a_person, partner_health
from biller_server.persistence.models import Channel, Job, JobKind, JobState, OutboundCall, PaymentStatus
from tests.factories import PaymentFactory

DAY = dt.date(2026, 11, 2)
NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


def test_collections_are_counted_by_india_time_hour_and_channel_without_failed_payments(session):
    PaymentFactory(paid_at=dt.datetime(2026, 11, 1, 18, 45, tzinfo=dt.UTC), amount_paise=100_050)  # 00:15 IST
    PaymentFactory(paid_at=dt.datetime(2026, 11, 2, 4, 40, tzinfo=dt.UTC), amount_paise=20_000)  # 10:10 IST
    PaymentFactory(
        paid_at=dt.datetime(2026, 11, 2, 4, 50, tzinfo=dt.UTC), amount_paise=30_000, channel=Channel.DIGILEDGE
    )
    PaymentFactory(paid_at=dt.datetime(2026, 11, 2, 4, 55, tzinfo=dt.UTC), status=PaymentStatus.FAILED)
    PaymentFactory(paid_at=dt.datetime(2026, 11, 1, 18, 29, tzinfo=dt.UTC))  # 23:59 IST the day before

    collections = collections_by_hour(session=session, day=DAY)

    assert collections.tally(0, "kaleidofin").amount_paise == 100_050
    assert collections.tally(10, "kaleidofin").amount_paise == 20_000
    assert collections.tally(10, "digiledge").amount_paise == 30_000
    assert collections.hour_total(10).count == 2
    assert (collections.total.count, collections.total.amount_paise) == (3, 150_050)


def test_needs_a_person_lists_unresolved_flagged_held_and_stopped_work(session):
    unresolved = PaymentFactory(status=PaymentStatus.UNRESOLVED)
    flagged = PaymentFactory(status=PaymentStatus.CONFIRMED, flagged=True, flag_reason="failure after confirmation")
    PaymentFactory(status=PaymentStatus.CONFIRMED)
    stopped = Job(kind=JobKind.DELIVER_WEBHOOK, partner="webhook", anchor_at=NOW, due_at=NOW, state=JobState.STOPPED)
    session.add_all([stopped, Job(kind=JobKind.DELIVER_WEBHOOK, partner="webhook", anchor_at=NOW, due_at=NOW)])
    session.flush()

    found = needs_a_person(session=session)

    assert found.unresolved == [unresolved] and found.flagged == [flagged] and found.stopped_jobs == [stopped]
    assert found.count == 3


def test_partner_health_counts_recent_calls_and_names_the_last_error(session):
    def call(minutes_ago, error=None, partner="kaleidofin"):
        session.add(
            OutboundCall(
                partner=partner,
                operation="status",
                method="GET",
                url="https://x.example",
                error=error,
                response_status=None if error else 200,
                created_at=NOW - dt.timedelta(minutes=minutes_ago),
            )
        )

    call(1)
    call(2, error="timeout")
    call(3, error="HTTP 503")
    call(60, error="old")  # outside the window
    call(90, partner="payu")  # no call in the window: not listed
    session.flush()

    (kaleidofin,) = partner_health(session=session, now=NOW)

    assert (kaleidofin.partner, kaleidofin.ok, kaleidofin.errors) == ("kaleidofin", 1, 2)
    assert kaleidofin.failing
    assert kaleidofin.last_error == "timeout" and kaleidofin.last_call_at == NOW - dt.timedelta(minutes=1)
