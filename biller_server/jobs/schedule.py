"""When to ask a partner again: Setu's polling discipline (setu-cou-polling.txt), used for every partner.

Checks are at fixed offsets from the job's anchor (the payment's time): every 5 s from 5 s to 5 minutes, then
every 5 minutes up to one day, then a person takes over. Measuring from the anchor, not from the last attempt,
means a late or restarted worker neither resets the schedule nor drifts; after an outage it resumes at the next
slot instead of replaying the missed ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

FIRST_CHECK = dt.timedelta(seconds=5)
FAST_INTERVAL = dt.timedelta(seconds=5)
FAST_UNTIL = dt.timedelta(minutes=5)
SLOW_INTERVAL = dt.timedelta(minutes=5)
GIVE_UP_AFTER = dt.timedelta(days=1)


def check_offsets() -> Iterator[dt.timedelta]:
    """Every scheduled check, as an offset from the anchor: 5 s, 10 s, ... 5 min, 10 min, ... 24 h."""
    offset = FIRST_CHECK
    while offset <= FAST_UNTIL:
        yield offset
        offset += FAST_INTERVAL
    offset = FAST_UNTIL + SLOW_INTERVAL
    while offset <= GIVE_UP_AFTER:
        yield offset
        offset += SLOW_INTERVAL


def next_check_at(*, anchor_at: dt.datetime, after: dt.datetime) -> dt.datetime | None:
    """The first scheduled check strictly after ``after``; None once the day is over."""
    elapsed = after - anchor_at
    if elapsed < FAST_UNTIL:
        offset = max((elapsed // FAST_INTERVAL + 1) * FAST_INTERVAL, FIRST_CHECK)
    else:
        offset = (elapsed // SLOW_INTERVAL + 1) * SLOW_INTERVAL
    if offset > GIVE_UP_AFTER:
        return None
    return anchor_at + offset
