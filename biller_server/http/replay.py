"""Replay protection for signed requests: a request id (JWT ``jti``) is accepted once per channel."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from biller_server.extensions import get_db
from biller_server.persistence.models import RequestNonce
from biller_server.persistence.types import utcnow


def remember_nonce(channel: str, nonce: str, expires_at: dt.datetime) -> bool:
    """Store the id in its own committed transaction; False if it was already there (a replay)."""
    try:
        with get_db().transaction() as session:
            # Ids whose tokens have expired can go: no request carrying them can pass the age check any more.
            session.execute(sa.delete(RequestNonce).where(RequestNonce.expires_at < utcnow()))
            session.add(RequestNonce(channel=channel, nonce=nonce, expires_at=expires_at))
        return True
    except IntegrityError:
        return False
