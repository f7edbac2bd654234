"""Replay protection for signed requests: a request id (JWT ``jti``) carries one body, once per channel.

A partner that gets no answer (or a 503) retries the same signed request: same id, same body. That is let through,
and the endpoint's own idempotency gives the first answer again. The same id with a different body is a captured
token being reused: refused.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from biller_server.extensions import get_db
from biller_server.persistence.models import RequestNonce
from biller_server.persistence.types import utcnow


def remember_nonce(channel: str, nonce: str, expires_at: dt.datetime, body_sha256: str) -> bool:
    """Store the id with its body's hash; False when the id was already used with a different body (a replay)."""
    try:
        with get_db().transaction() as session:
            # Ids whose tokens have expired can go: no request carrying them can pass the age check any more.
            session.execute(sa.delete(RequestNonce).where(RequestNonce.expires_at < utcnow()))
            session.add(RequestNonce(channel=channel, nonce=nonce, expires_at=expires_at, body_sha256=body_sha256))
        return True
    except IntegrityError:
        with get_db().transaction() as session:
            seen = session.scalar(
                sa.select(RequestNonce.body_sha256).where(RequestNonce.channel == channel, RequestNonce.nonce == nonce)
            )
        return seen == body_sha256
