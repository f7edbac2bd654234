"""What every partner channel gets: authentication before any write, its error shape, the inbound log."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask, Response, current_app, request
from flask_smorest import Api, Blueprint
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from biller_server.extensions import SETTINGS_KEY, close_request_session, get_db
from biller_server.http.auth import ChannelAuth
from biller_server.http.errors import ChannelErrorRenderers, ErrorRenderer
from biller_server.http.logging import current_request_id
from biller_server.http.openapi import ChannelSecurity
from biller_server.http.replay import remember_nonce
from biller_server.http.state import request_state
from biller_server.persistence.models import InboundMessage
from biller_server.persistence.types import utcnow

logger = logging.getLogger(__name__)

MAX_LOGGED_BODY_BYTES = 256 * 1024
_INSERT_INBOUND = sa.insert(InboundMessage.__table__)


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    blueprint: Blueprint
    path_prefixes: list[str]
    auth: ChannelAuth
    render_error: ErrorRenderer


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
    registry: ChannelRegistry = current_app.extensions[REGISTRY_KEY]
    spec = registry.channel_for_path(request.path)
    if spec is not None:
        session.execute(_INSERT_INBOUND, registry._inbound_message(spec, LOGGED_WITH_WORK_STATUS))
    session.commit()
    if spec is not None:
        request_state()["inbound_logged"] = True


# The status a row written by commit_with_inbound_log records: the view answers 200 after the commit.
LOGGED_WITH_WORK_STATUS = 200
REGISTRY_KEY = "biller_server.channels"


class ChannelRegistry:
    """The app's partner channels; authenticates and logs every request that falls under one of them."""

    def __init__(self, app: Flask, api: Api, renderers: ChannelErrorRenderers) -> None:
        self.api = api
        self.renderers = renderers
        self.settings = app.extensions[SETTINGS_KEY]
        self.security = ChannelSecurity(api.spec)
        self.channels: list[ChannelSpec] = []
        app.extensions[REGISTRY_KEY] = self
        app.before_request(self._authenticate)
        app.after_request(self._log_inbound_message)

    def register(self, spec: ChannelSpec) -> None:
        spec = dataclasses.replace(spec, auth=dataclasses.replace(spec.auth, remember_nonce=remember_nonce))
        self.security.declare(spec.auth, spec.path_prefixes, settings=self.settings)
        self.api.register_blueprint(spec.blueprint, url_prefix=spec.path_prefixes[0])
        self.renderers.register(spec.blueprint.name, spec.path_prefixes, spec.render_error)
        self.channels.append(spec)

    def _authenticate(self) -> None:
        # Runs before any view, so a missing or wrong credential is refused before anything is written.
        spec = self.channel_for_path(request.path)
        if spec is None:
            return
        try:
            spec.auth.check(request)
        except HTTPException as exc:
            note_inbound_outcome("unauthenticated" if exc.code == 401 else "forbidden")
            raise

    def channel_for_path(self, path: str) -> ChannelSpec | None:
        for spec in self.channels:
            if any(path == prefix or path.startswith(prefix.rstrip("/") + "/") for prefix in spec.path_prefixes):
                return spec
        return None

    def _log_inbound_message(self, response: Response) -> Response:
        spec = self.channel_for_path(request.path)
        if spec is None:
            return response
        if request_state().get("inbound_logged"):
            if response.status_code != LOGGED_WITH_WORK_STATUS:
                # Something after the commit changed the answer (it should never happen): say so.
                logger.error(
                    "the answer differs from the inbound log row committed with the work",
                    extra={"fields": {"path": request.path, "status": response.status_code}},
                )
            return response
        values = self._inbound_message(spec, response.status_code)
        if _log_in_read_only_transaction(values):
            return response
        # The request's own work is over (committed or not) by the time its response exists: end its session
        # first, so the log's transaction stands apart from it.
        close_request_session()
        try:
            with get_db().transaction() as session:
                # A Core INSERT of one row: the ORM's unit of work would cost more than the write itself.
                session.execute(_INSERT_INBOUND, values)
        except Exception:
            # The partner's answer does not depend on the log; say so loudly and go on.
            logger.exception("could not write the inbound message log", extra={"fields": {"path": request.path}})
        return response

    def _inbound_message(self, spec: ChannelSpec, status_code: int) -> dict[str, object]:
        hidden = spec.auth.secret_header_names | {"cookie"}
        headers = {key: ("[REDACTED]" if key.lower() in hidden else value) for key, value in request.headers.items()}
        try:
            body = request.get_data(cache=True)[:MAX_LOGGED_BODY_BYTES]
        except HTTPException:
            body = b""  # over the size cap: it was never read
        state = request_state()
        started = state.get("request_started")
        return {
            "received_at": utcnow(),
            "channel": spec.name,
            "method": request.method,
            "path": request.path[:300],
            "source_address": request.remote_addr,
            "request_id": current_request_id(),
            "headers": headers,
            "body": body,
            "status_code": status_code,
            "outcome": state.get("inbound_outcome") or _default_outcome(status_code),
            "partner_ref": state.get("inbound_partner_ref"),
            "error": state.get("inbound_error"),
            "duration_ms": round((time.perf_counter() - started) * 1000, 3) if started else None,
        }


def note_read_only_request() -> None:
    """Say that this request only reads the books (a bill fetch): its inbound log row may then be written in the
    request's own open transaction, which has nothing of its own to commit, instead of a second one.

    A pool checkout (with its liveness ping), a BEGIN and a ROLLBACK fewer per request. If the transaction did
    write after all (a flush), or cannot take the row (it failed), the log gets its own transaction as usual.
    """
    request_state()["read_only"] = True


def _log_in_read_only_transaction(values: dict[str, object]) -> bool:
    state = request_state()
    session: Session | None = state.get("db_session")
    if not state.get("read_only") or session is None or not session.in_transaction():
        return False
    if session.info.get(_FLUSHED) or session.new or session.dirty or session.deleted:
        return False
    try:
        session.execute(_INSERT_INBOUND, values)
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
