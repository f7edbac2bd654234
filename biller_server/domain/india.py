"""India time, the one time zone people see: bills are dated, days are counted and times are shown in IST.

IST has no daylight saving, so a fixed offset is exact. The books keep UTC; only what people read is in IST.
"""

from __future__ import annotations

import datetime as dt

IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")


def india_today() -> dt.date:
    """Today's date in India, whatever the server's own zone is."""
    return dt.datetime.now(IST).date()
