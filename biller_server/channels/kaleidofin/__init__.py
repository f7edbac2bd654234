"""Kaleidofin's collection API: the biller hosts POST /bills/fetchBills and POST /bills/fetchReceipt."""

from __future__ import annotations

from biller_server.channels.kaleidofin.envelope import render_error
from biller_server.channels.kaleidofin.views import blueprint
from biller_server.config import Settings
from biller_server.http.auth import ChannelAuth
from biller_server.http.channels import ChannelSpec

CHANNEL = "kaleidofin"
PATH_PREFIX = "/bills"


def channel_spec(settings: Settings) -> ChannelSpec:
    return ChannelSpec(
        name=CHANNEL,
        blueprint=blueprint,
        path_prefixes=[PATH_PREFIX],
        auth=ChannelAuth.from_settings(settings, CHANNEL),
        render_error=render_error,
    )
