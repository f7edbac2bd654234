"""The operations console: the lender's desk in a browser, under ``/console``, off unless
``BILLER_CONSOLE_ENABLED`` (docs/console.md).

Server-rendered pages over the same domain functions the CLI uses; every asset is served from this package. It
touches nothing of the partner channels: its session cookie is scoped to its own path, its errors are its own HTML
pages, and no partner path ever reads a session.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
from pathlib import Path

from flask import Flask

from biller_server.config import Settings
from biller_server.console import decisions as _decisions  # noqa: F401 - its pages join the blueprint
from biller_server.console import format as formatting
from biller_server.console.auth import init_auth
from biller_server.console.views import CONSOLE_PREFIX, UPLOAD_PATH, blueprint, render_console_error
from biller_server.http.errors import ChannelErrorRenderers
from biller_server.http.transport import allow_larger_body

SESSION_COOKIE_NAME = "biller_console"
DEVELOPMENT_KEY_FILE = "console-secret-key"


def init_console(app: Flask, settings: Settings, renderers: ChannelErrorRenderers) -> None:
    """Serve the console under /console (call only when it is enabled)."""
    app.config.update(
        SECRET_KEY=console_secret_key(settings),
        SESSION_COOKIE_NAME=SESSION_COOKIE_NAME,
        SESSION_COOKIE_PATH=CONSOLE_PREFIX,  # never sent to the partner paths, never set by them
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,  # production serves the console over TLS only
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.console_session_max_hours),
    )
    init_auth(app, settings)
    formatting.register_filters(app)
    app.register_blueprint(blueprint, url_prefix=CONSOLE_PREFIX)
    renderers.register(blueprint.name, [CONSOLE_PREFIX], render_console_error)
    # A lender's bill file is far larger than any partner call: the upload alone gets its own cap and deadline.
    allow_larger_body(
        app,
        UPLOAD_PATH,
        max_bytes=settings.console_upload_max_bytes,
        timeout_seconds=settings.console_upload_timeout_seconds,
    )


def console_secret_key(settings: Settings) -> str:
    """The key that signs session cookies: the setting; outside production, a random key kept in the instance
    folder (made once, readable by its owner only), so that a checkout's console works with no set-up and no key
    is ever written in the source."""
    if settings.console_secret_key is not None:
        return settings.console_secret_key.get_secret_value()
    path = Path(settings.instance_dir) / DEVELOPMENT_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        draft.touch(mode=0o600)
        draft.write_text(secrets.token_hex(32))
        # A hard link appears whole or not at all: of several processes starting together, the first one's key
        # is the key, and the others read it.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return path.read_text().strip()
