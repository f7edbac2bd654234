"""Kaleidofin's collection API: the biller hosts POST /bills/fetchBills and POST /bills/fetchReceipt."""

from __future__ import annotations

from biller_server.channels.kaleidofin.envelope import render_error
from biller_server.config import Settings
from biller_server.http.auth import ChannelAuth
from biller_server.http.channels import ChannelSpec
from biller_server.http.parsing import ChannelBlueprint

CHANNEL = "kaleidofin"
PATH_PREFIX = "/bills"

blueprint = ChannelBlueprint(
    "kaleidofin",
    __name__,
    description="Kaleidofin collection API: bill fetch and payment acknowledgement (receipt).",
)


def channel_spec(settings: Settings) -> ChannelSpec:
    return ChannelSpec(
        name=CHANNEL,
        blueprint=blueprint,
        path_prefixes=[PATH_PREFIX],
        auth=ChannelAuth.from_settings(settings, CHANNEL),
        render_error=render_error,
    )


from biller_server.channels.kaleidofin import views  # noqa: E402, F401  (registers the routes)
