"""Digiledge's biller protocol: every request is acknowledged at once with ``{reason, code, status}``."""

from __future__ import annotations

from biller_server.channels.digiledge.envelope import render_error
from biller_server.config import Settings
from biller_server.http.auth import ChannelAuth
from biller_server.http.channels import ChannelSpec
from biller_server.http.parsing import ChannelBlueprint

CHANNEL = "digiledge"

blueprint = ChannelBlueprint(
    "digiledge",
    __name__,
    description="Digiledge biller protocol: payment notification, bill fetch, validation and payment.",
)


def channel_spec(settings: Settings) -> ChannelSpec:
    prefix = "/" + settings.digiledge_path_prefix.strip("/")
    return ChannelSpec(
        name=CHANNEL,
        blueprint=blueprint,
        path_prefixes=[prefix],
        auth=ChannelAuth.from_settings(settings, CHANNEL),
        render_error=render_error,
    )


from biller_server.channels.digiledge import views  # noqa: E402, F401  (registers the routes)
