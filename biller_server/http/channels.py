"""What every partner channel gets: authentication before any write, its error shape, the inbound log."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass

from flask import Flask, Response, request
from flask_smorest import Api, Blueprint
from werkzeug.exceptions import HTTPException

from biller_server.extensions import close_request_session, get_db
from biller_server.http.auth import ChannelAuth
from biller_server.http.errors import ChannelErrorRenderers, ErrorRenderer
from biller_server.http.logging import current_request_id
from biller_server.http.replay import remember_nonce
from biller_server.http.state import request_state
from biller_server.persistence.models import InboundMessage

logger = logging.getLogger(__name__)

MAX_LOGGED_BODY_BYTES = 256 * 1024


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


class ChannelRegistry:
    """The app's partner channels; authenticates and logs every request that falls under one of them."""

    def __init__(self, app: Flask, api: Api, renderers: ChannelErrorRenderers) -> None:
        self.api = api
        self.renderers = renderers
        self.channels: list[ChannelSpec] = []
        app.before_request(self._authenticate)
        app.after_request(self._log_inbound_message)

    def register(self, spec: ChannelSpec) -> None:
        spec = dataclasses.replace(spec, auth=dataclasses.replace(spec.auth, remember_nonce=remember_nonce))
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
        # The request's own work is over (committed or not) by the time its response exists: end its session
        # first, so the log's transaction stands apart from it.
        close_request_session()
        try:
            with get_db().transaction() as session:
                session.add(self._inbound_message(spec, response))
        except Exception:
            # The partner's answer does not depend on the log; say so loudly and go on.
            logger.exception("could not write the inbound message log", extra={"fields": {"path": request.path}})
        return response

    def _inbound_message(self, spec: ChannelSpec, response: Response) -> InboundMessage:
        hidden = spec.auth.secret_header_names | {"cookie"}
        headers = {key: ("[REDACTED]" if key.lower() in hidden else value) for key, value in request.headers.items()}
        try:
            body = request.get_data(cache=True)[:MAX_LOGGED_BODY_BYTES]
        except HTTPException:
            body = b""  # over the size cap: it was never read
        state = request_state()
        started = state.get("request_started")
        return InboundMessage(
            channel=spec.name,
            method=request.method,
            path=request.path[:300],
            source_address=request.remote_addr,
            request_id=current_request_id(),
            headers=headers,
            body=body,
            status_code=response.status_code,
            outcome=state.get("inbound_outcome") or _default_outcome(response.status_code),
            partner_ref=state.get("inbound_partner_ref"),
            error=state.get("inbound_error"),
            duration_ms=round((time.perf_counter() - started) * 1000, 3) if started else None,
        )


def _default_outcome(status_code: int) -> str:
    if status_code < 400:
        return "ok"
    return "rejected" if status_code < 500 else "error"
