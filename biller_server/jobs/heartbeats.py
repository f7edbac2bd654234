"""Workers' heartbeats in the ``workers`` table: when each running worker last polled the queue (written here,
read in ``domain.health``).

Kept in the database rather than in a process, so that every host sees every worker: ``/readyz`` and
``biller-server status`` report them, and ``/metrics`` exports them (``biller_worker_heartbeat_timestamp_seconds``)
from any API host, for workers on worker hosts too, which serve no HTTP themselves.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.health import FORGET_AFTER
from biller_server.persistence.models import WorkerHeartbeat
from biller_server.persistence.upsert import insert_for


def beat(
    *, session: Session, name: str, host: str, pid: int, started_at: dt.datetime, last_poll_at: dt.datetime
) -> None:
    """Record the worker's last poll (one upsert); the caller commits."""
    insert = insert_for(session, WorkerHeartbeat).values(
        name=name[:100], host=host[:255], pid=pid, started_at=started_at, last_poll_at=last_poll_at
    )
    session.execute(
        insert.on_conflict_do_update(
            index_elements=[WorkerHeartbeat.name],
            set_={"host": host[:255], "pid": pid, "started_at": started_at, "last_poll_at": last_poll_at},
        )
    )


def forget(*, session: Session, name: str) -> None:
    """A worker that stops gracefully takes its row with it."""
    session.execute(sa.delete(WorkerHeartbeat).where(WorkerHeartbeat.name == name[:100]))


def forget_long_gone(*, session: Session, now: dt.datetime) -> None:
    session.execute(sa.delete(WorkerHeartbeat).where(WorkerHeartbeat.last_poll_at < now - FORGET_AFTER))
