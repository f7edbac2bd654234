"""Is the installation alive: every worker's last poll of the queue (the ``workers`` heartbeat table) and when
each channel's partner last called us. Read from the books, so `biller-server status`, ``/readyz``, ``/metrics``
and the console's Today page see the same, from any host.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.config import PARTNERS
from biller_server.persistence.models import InboundMessage, Job, OutboundCall, WorkerHeartbeat

# A row not refreshed for this long is forgotten: a worker killed outright (its row never deleted) is reported
# stale for a day, long enough to be noticed, then dropped.
FORGET_AFTER = dt.timedelta(days=1)
# Calls refused before authentication say nothing about the partner: anyone on the internet can make them, and
# they must not hide a partner that has gone silent.
REFUSED_OUTCOMES = ("unauthenticated", "forbidden")
# Who we call: the partners' status and payment APIs, and the lender's webhook.
CALLED_PARTNERS = (*(partner for partner in PARTNERS if partner != "fake"), "webhook")


@dataclass(frozen=True)
class Heartbeat:
    name: str
    host: str
    pid: int
    started_at: dt.datetime
    last_poll_at: dt.datetime

    def age_seconds(self, now: dt.datetime) -> float:
        return max((now - self.last_poll_at).total_seconds(), 0.0)

    def is_stale(self, now: dt.datetime, stale_after_seconds: float) -> bool:
        return self.age_seconds(now) > stale_after_seconds


def heartbeats(session: Session, *, now: dt.datetime) -> list[Heartbeat]:
    """Every worker heard from within a day, most recent poll first."""
    rows = session.scalars(
        sa.select(WorkerHeartbeat)
        .where(WorkerHeartbeat.last_poll_at >= now - FORGET_AFTER)
        .order_by(WorkerHeartbeat.last_poll_at.desc(), WorkerHeartbeat.name)
    )
    return [Heartbeat(row.name, row.host, row.pid, row.started_at, row.last_poll_at) for row in rows]


@dataclass(frozen=True)
class WorkerHealth:
    beat: Heartbeat
    seconds_since_poll: float
    stale: bool  # not polled for over BILLER_WORKER_STALE_SECONDS: stopped, stuck, or cut off from the database


def worker_health(*, session: Session, now: dt.datetime, stale_after_seconds: float) -> list[WorkerHealth]:
    """Each worker heard from within a day: how long since it polled, and whether that is too long."""
    return [
        WorkerHealth(beat, round(beat.age_seconds(now), 1), beat.is_stale(now, stale_after_seconds))
        for beat in heartbeats(session, now=now)
    ]


def last_authenticated_call_at(session: Session, channel: str) -> dt.datetime | None:
    """When the channel's partner last made a call that passed authentication (whatever we answered)."""
    # One backward step on the (channel, received_at) index, past any refused calls.
    return session.scalar(
        sa.select(sa.func.max(InboundMessage.received_at)).where(
            InboundMessage.channel == channel, InboundMessage.outcome.not_in(REFUSED_OUTCOMES)
        )
    )


@dataclass(frozen=True)
class ChannelSilence:
    channel: str
    last_call_at: dt.datetime | None
    seconds_since_call: int | None  # None: the partner has never called


def channel_silence(*, session: Session, now: dt.datetime, channels: Iterable[str]) -> list[ChannelSilence]:
    """For each channel, when its partner last called us (authenticated) and how long ago."""
    found = []
    for channel in channels:
        last = last_authenticated_call_at(session, channel)
        found.append(ChannelSilence(channel, last, max(round((now - last).total_seconds()), 0) if last else None))
    return found


@dataclass(frozen=True)
class CallError:
    """One of our calls to a partner that got no usable answer (a confirmation, a status check, a delivery)."""

    at: dt.datetime
    partner: str
    operation: str
    error: str
    payment_id: int | None


def recent_call_errors(
    *, session: Session, since: dt.datetime, partners: Iterable[str] = CALLED_PARTNERS, limit: int = 10
) -> list[CallError]:
    """The latest calls since ``since`` that got no usable answer, newest first, ``limit`` at most per partner."""
    found: list[CallError] = []
    for partner in partners:
        # A backward range on the (partner, created_at) index per partner.
        rows = session.execute(
            sa.select(OutboundCall.created_at, OutboundCall.operation, OutboundCall.error, Job.payment_id)
            .outerjoin(Job, Job.id == OutboundCall.job_id)
            .where(
                OutboundCall.partner == partner,
                OutboundCall.created_at >= since,
                OutboundCall.error.is_not(None),
            )
            .order_by(OutboundCall.created_at.desc(), OutboundCall.id.desc())
            .limit(limit)
        )
        found.extend(CallError(at, partner, operation, error, payment_id) for at, operation, error, payment_id in rows)
    found.sort(key=lambda call: call.at, reverse=True)
    return found[:limit]
