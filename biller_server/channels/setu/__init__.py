"""Setu's BBPS BillCollect channel: Setu calls ``{prefix}/bills/fetch``, ``/customer/validate``,
``/bills/fetchReceipt`` and ``/notifications`` (docs/channels/setu.md). ``schemas`` holds Setu's bodies,
``envelope`` its ``baseResponse`` / ``errorResponse``, ``render`` the books as Setu's objects, ``views`` the
endpoints."""

from __future__ import annotations

from typing import Any

from biller_server.channels.setu.envelope import render_error
from biller_server.channels.setu.views import blueprint
from biller_server.config import Settings
from biller_server.extensions import SETTINGS_KEY
from biller_server.http.auth import ChannelAuth
from biller_server.http.channels import ChannelSpec
from biller_server.http.transport import allow_larger_body

CHANNEL = "setu"
NOTIFICATION_PATHS = ("/notifications", "/api/notifications")


def channel_spec(settings: Settings) -> ChannelSpec:
    return ChannelSpec(
        name=CHANNEL,
        blueprint=blueprint,
        path_prefixes=[settings.setu.path_prefix],
        auth=ChannelAuth.from_settings(settings, CHANNEL),
        render_error=render_error,
    )


@blueprint.record_once
def _notification_body_cap(state: Any) -> None:
    # A settlement names every bill it settles: its endpoint takes bodies up to its own cap (default 1 MiB).
    settings: Settings = state.app.extensions[SETTINGS_KEY]
    for path in NOTIFICATION_PATHS:
        allow_larger_body(
            state.app,
            state.url_prefix + path,
            max_bytes=settings.setu.notification_max_bytes,
            timeout_seconds=settings.request_body_timeout_seconds,
        )
