"""Digiledge's biller protocol: every request is acknowledged at once with ``{reason, code, status}``."""

from __future__ import annotations

from biller_server.channels.digiledge.envelope import render_error
from biller_server.channels.digiledge.views import blueprint
from biller_server.config import Settings
from biller_server.http.auth import ChannelAuth
from biller_server.http.channels import ChannelSpec

CHANNEL = "digiledge"


def channel_spec(settings: Settings) -> ChannelSpec:
    prefix = "/" + settings.digiledge.path_prefix.strip("/")
    return ChannelSpec(
        name=CHANNEL,
        blueprint=blueprint,
        path_prefixes=[prefix],
        auth=ChannelAuth.from_settings(settings, CHANNEL),
        render_error=render_error,
    )
