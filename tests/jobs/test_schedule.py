import datetime as dt

from biller_server.jobs.schedule import check_offsets, next_check_at

ANCHOR = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)


def test_every_5_seconds_for_5_minutes_then_every_5_minutes_for_a_day():
    offsets = [offset // S for offset in check_offsets()]

    assert offsets[:3] == [5, 10, 15]
    assert offsets[59] == 300
    assert offsets[60:63] == [600, 900, 1200]
    assert offsets[-1] == 86_400
    assert len(offsets) == 60 + 287


def test_next_check_is_the_next_slot_measured_from_the_anchor():
    assert next_check_at(anchor_at=ANCHOR, after=ANCHOR) == ANCHOR + 5 * S
    assert next_check_at(anchor_at=ANCHOR, after=ANCHOR + 5 * S) == ANCHOR + 10 * S
    assert next_check_at(anchor_at=ANCHOR, after=ANCHOR + 7 * S) == ANCHOR + 10 * S
    assert next_check_at(anchor_at=ANCHOR, after=ANCHOR + 300 * S) == ANCHOR + 600 * S


def test_a_worker_back_after_an_outage_resumes_at_the_next_slot_without_replaying_missed_ones():
    assert next_check_at(anchor_at=ANCHOR, after=ANCHOR + dt.timedelta(hours=3, seconds=1)) == ANCHOR + dt.timedelta(
        hours=3, minutes=5
    )


def test_no_check_after_a_day():
    assert next_check_at(anchor_at=ANCHOR, after=ANCHOR + dt.timedelta(hours=23, minutes=59)) == ANCHOR + dt.timedelta(
        days=1
    )
    assert next_check_at(anchor_at=ANCHOR, after=ANCHOR + dt.timedelta(days=1)) is None


def test_a_clock_behind_the_anchor_still_waits_for_the_first_check():
    assert next_check_at(anchor_at=ANCHOR, after=ANCHOR - 30 * S) == ANCHOR + 5 * S
