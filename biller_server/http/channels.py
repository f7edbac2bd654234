"""What every partner channel gets: authentication before any write, its error shape, the inbound log."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from flask import Flask, request
from flask_smorest import Api, Blueprint
from werkzeug.exceptions import HTTPException

from biller_server.extensions import SETTINGS_KEY
from biller_server.http.auth import ChannelAuth
from biller_server.http.errors import ChannelErrorRenderers, ErrorRenderer
from biller_server.http.inbound_log import InboundLog, note_inbound_outcome
from biller_server.http.openapi import ChannelSecurity
from biller_server.http.replay import remember_nonce

REGISTRY_KEY = "biller_server.channels"


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    blueprint: Blueprint
    path_prefixes: list[str]
    auth: ChannelAuth
    render_error: ErrorRenderer

    @property
    def secret_header_names(self) -> set[str]:
        """Headers the inbound log never keeps the value of."""
        return self.auth.secret_header_names


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
        InboundLog(app, self.channel_for_path)

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
