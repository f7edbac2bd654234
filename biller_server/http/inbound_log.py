"""The inbound log: one ``inbound_messages`` row for every request that falls under a partner channel.

The row says who called, what was sent (secret headers redacted, and every configured secret value wherever it
appears: ``http.redaction``) and what became of it. A view that is about to
answer 200 commits it with its work (``commit_with_inbound_log``); any other answer is logged after it, in a
transaction of its own (or in a read-only request's open one, ``note_read_only_request``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

import sqlalchemy as sa
from flask import Flask, Response, current_app, request
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from biller_server.extensions import SETTINGS_KEY, close_request_session, get_db
from biller_server.http.logging import current_request_id, note_access_fields
from biller_server.http.redaction import REDACTED, SecretRedactor
from biller_server.http.state import request_state
from biller_server.persistence.database import statements_commit_alone
from biller_server.persistence.direct import DirectStatement
from biller_server.persistence.models import InboundMessage
from biller_server.persistence.rows import bound_columns
from biller_server.persistence.types import utcnow

logger = logging.getLogger(__name__)

MAX_LOGGED_BODY_BYTES = 256 * 1024
_INBOUND_COLUMNS = (
    "received_at", "channel", "method", "path", "source_address", "request_id", "headers", "body", "status_code",
    "outcome", "partner_ref", "error", "duration_ms",
)  # fmt: skip
# On the driver's cursor (every partner call writes one), without RETURNING the new id, which nobody reads.
_INSERT_INBOUND = DirectStatement(
    sa.insert(InboundMessage.__table__).values(bound_columns(InboundMessage.__table__, _INBOUND_COLUMNS)).inline()
)
INBOUND_LOG_KEY = "biller_server.inbound_log"


class LoggedChannel(Protocol):
    """What the log needs of the channel a request fell under (``http.channels.ChannelSpec`` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def secret_header_names(self) -> set[str]: ...


def note_inbound_outcome(outcome: str, partner_ref: str | None = None, error: str | None = None) -> None:
    """Tell the inbound log what became of this request (views call this; the log is written after)."""
    state = request_state()
    state["inbound_outcome"] = outcome
    if partner_ref is not None:
        state["inbound_partner_ref"] = partner_ref[:100]
    if error is not None:
        state["inbound_error"] = error


def commit_with_inbound_log(session: Session, outcome: str, partner_ref: str | None = None) -> None:
    """Commit the request's work together with its inbound log row, for a view that is about to answer 200.

    One transaction instead of two (a pool checkout with its ping, a BEGIN and a synchronous COMMIT fewer), and
    the row can no longer be missing for a payment that was committed: both commit or neither does. If the commit
    fails, the error's answer is logged after it in a transaction of its own, as for any other error.
    """
    note_inbound_outcome(outcome, partner_ref)
    log: InboundLog = current_app.extensions[INBOUND_LOG_KEY]
    channel = log.channel_for_path(request.path)
    if channel is not None:
        _INSERT_INBOUND.run(session, _inbound_message(channel, LOGGED_WITH_WORK_STATUS, log.redactor))
    session.commit()
    if channel is not None:
        request_state()["inbound_logged"] = True


# The status a row written by commit_with_inbound_log records: the view answers 200 after the commit.
LOGGED_WITH_WORK_STATUS = 200


class InboundLog:
    """Writes the log row of each channel request after its answer, unless the view committed it with its work."""

    def __init__(self, app: Flask, channel_for_path: Callable[[str], LoggedChannel | None]) -> None:
        self.channel_for_path = channel_for_path
        self.redactor = SecretRedactor(app.extensions[SETTINGS_KEY].secret_values())
        app.extensions[INBOUND_LOG_KEY] = self
        app.after_request(self._log_inbound_message)

    def _log_inbound_message(self, response: Response) -> Response:
        channel = self.channel_for_path(request.path)
        if channel is None:
            return response
        if request_state().get("inbound_logged"):
            if response.status_code != LOGGED_WITH_WORK_STATUS:
                # Something after the commit changed the answer (it should never happen): say so.
                logger.error(
                    "the answer differs from the inbound log row committed with the work",
                    extra={"fields": {"path": request.path, "status": response.status_code}},
                )
            return response
        values = _inbound_message(channel, response.status_code, self.redactor)
        if _log_in_read_only_transaction(values):
            return response
        # The request's own work is over (committed or not) by the time its response exists: end its session
        # first, so the log's transaction stands apart from it.
        close_request_session()
        try:
            with get_db().transaction() as session:
                # A Core INSERT of one row: the ORM's unit of work would cost more than the write itself.
                _INSERT_INBOUND.run(session, values)
        except Exception:
            # The partner's answer does not depend on the log; say so loudly and go on.
            logger.exception("could not write the inbound message log", extra={"fields": {"path": request.path}})
        return response


def _inbound_message(channel: LoggedChannel, status_code: int, redactor: SecretRedactor) -> dict[str, object]:
    hidden = channel.secret_header_names | {"cookie"}
    headers = {
        redactor.text(key): (REDACTED if key.lower() in hidden else redactor.text(value))
        for key, value in request.headers.items()
    }
    try:
        # Redacted whole, then cut: a secret across the cut would otherwise leave its first part behind.
        body = redactor.bytes(request.get_data(cache=True))[:MAX_LOGGED_BODY_BYTES]
    except HTTPException:
        body = b""  # over the size cap: it was never read
    state = request_state()
    started = state.get("request_started")
    outcome = state.get("inbound_outcome") or _default_outcome(status_code)
    note_access_fields(channel=channel.name, outcome=outcome, partner_ref=state.get("inbound_partner_ref"))
    return {
        "received_at": utcnow(),
        "channel": channel.name,
        "method": request.method,
        "path": redactor.text(request.path)[:300],
        "source_address": request.remote_addr,
        "request_id": current_request_id(),
        "headers": headers,
        "body": body,
        "status_code": status_code,
        "outcome": outcome,
        "partner_ref": _redacted(state.get("inbound_partner_ref"), redactor),
        "error": _redacted(state.get("inbound_error"), redactor),
        "duration_ms": round((time.perf_counter() - started) * 1000, 3) if started else None,
    }


def _redacted(text: str | None, redactor: SecretRedactor) -> str | None:
    return None if text is None else redactor.text(text)


def note_read_only_request() -> None:
    """Say that this request only reads the books (a bill fetch): its inbound log row may then be written in the
    request's own open transaction, which has nothing of its own to commit, instead of a second one.

    A pool checkout (with its liveness ping), a BEGIN and a ROLLBACK fewer per request. If the transaction did
    write after all (a flush), or cannot take the row (it failed), the log gets its own transaction as usual.
    On PostgreSQL the reads and the row need no transaction around them at all: each statement commits by itself
    (two round trips fewer, the BEGIN and the COMMIT), and the row is committed when its INSERT returns.
    """
    state = request_state()
    state["read_only"] = True
    session: Session | None = state.get("db_session")
    if session is not None:
        statements_commit_alone(session)
    # Otherwise request_session() does it when the view first asks for its session: a request refused before it
    # reads anything (its identifiers) takes no connection for it.


def _log_in_read_only_transaction(values: dict[str, object]) -> bool:
    state = request_state()
    session: Session | None = state.get("db_session")
    if not state.get("read_only") or session is None or not session.in_transaction():
        return False
    if session.info.get(_FLUSHED) or session.new or session.dirty or session.deleted:
        return False
    try:
        _INSERT_INBOUND.run(session, values)
        session.commit()
    except Exception:
        session.rollback()  # e.g. the request's transaction had failed: log in a transaction of its own
        return False
    close_request_session()
    return True


_FLUSHED = "biller_server.flushed"


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _context: object) -> None:
    # Only flushes are noted (cheap: reads never flush): a read-only request that wrote is never logged "with" it.
    session.info[_FLUSHED] = True


def _default_outcome(status_code: int) -> str:
    if status_code < 400:
        return "ok"
    return "rejected" if status_code < 500 else "error"
