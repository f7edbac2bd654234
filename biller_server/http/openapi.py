"""The API's own documentation: ``/docs`` (Swagger UI) and each channel's security scheme in ``/openapi.json``.

Swagger UI's files are served from the installed flask-swagger-ui wheel (pinned in pyproject.toml), never from a
CDN: lenders run the server on hosts without internet access, where a CDN page is blank. The page also makes no
call out on its own (Swagger UI's online validator badge is switched off: it would send the document's URL to
swagger.io).

Each channel declares the scheme it is configured with (an API key header, HTTP Basic or a bearer JWT), and every
operation under its paths requires it: "Authorize" on /docs then sends the credential, and generated clients know
how to authenticate.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

from apispec import APISpec, BasePlugin
from flask import Blueprint, Response, abort, send_from_directory

from biller_server.config import ChannelAuthScheme, Settings
from biller_server.http.auth import ChannelAuth

SWAGGER_UI_DIST = Path(str(importlib.resources.files("flask_swagger_ui") / "dist"))
SWAGGER_UI_VERSION = (SWAGGER_UI_DIST / "VERSION").read_text().strip().removeprefix("v")
# The version is in the path, so a new release never meets a browser's cached copy of the old files.
SWAGGER_UI_URL = f"/docs/swagger-ui/{SWAGGER_UI_VERSION}/"
# What /docs loads (flask-smorest's page: the CSS, the bundle, the standalone preset), its icons and the licence.
SWAGGER_UI_FILES = frozenset(
    {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "favicon-16x16.png",
        "favicon-32x32.png",
        "LICENSE",
    }
)
SWAGGER_UI_CONFIG: dict[str, Any] = {
    "validatorUrl": None,  # the badge would fetch https://validator.swagger.io/ with our document's URL
    "displayRequestDuration": True,
}

blueprint = Blueprint("swagger_ui_assets", __name__)


@blueprint.get("/docs/swagger-ui/<version>/<filename>")
def swagger_ui_file(version: str, filename: str) -> Response:
    """One of Swagger UI's files, from the installed package; anything else is 404."""
    if version != SWAGGER_UI_VERSION or filename not in SWAGGER_UI_FILES:
        abort(404)
    response = send_from_directory(SWAGGER_UI_DIST, filename, max_age=365 * 24 * 3600)
    response.cache_control.immutable = True
    if filename == "LICENSE":
        response.mimetype = "text/plain"
    return response


def swagger_ui_config() -> dict[str, object]:
    """flask-smorest's settings for /docs: the page at /docs, its files from this server."""
    return {
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_URL": SWAGGER_UI_URL,
        "OPENAPI_SWAGGER_UI_CONFIG": SWAGGER_UI_CONFIG,
    }


def security_scheme(auth: ChannelAuth, *, settings: Settings) -> dict[str, str]:
    """The OpenAPI security scheme object for a channel's configured authentication."""
    channel = auth.channel
    variable = f"BILLER_{channel.upper()}"
    if auth.scheme is ChannelAuthScheme.API_KEY:
        description = f"The key in the {auth.api_key_header} header ({variable}_API_KEY)."
        if not settings.is_production and settings.value(f"{channel}_api_key") is None:
            # A constant from the source (config/settings.py), shown only while it is the key in force.
            description += f" Development placeholder while it is unset: `{settings.secret(f'{channel}_api_key')}`."
        return {"type": "apiKey", "in": "header", "name": auth.api_key_header, "description": description}
    if auth.scheme is ChannelAuthScheme.BASIC:
        return {
            "type": "http",
            "scheme": "basic",
            "description": f"HTTP Basic ({variable}_BASIC_USERNAME and {variable}_BASIC_PASSWORD).",
        }
    return {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": (
            f"An HS256 token signed with {variable}_JWT_SECRET, with aud ({variable}_JWT_AUDIENCE), iat (at most "
            f"{auth.jwt_max_age_seconds} s old) and a jti used for one request only (an exact retry excepted)."
        ),
    }


class ChannelSecurity(BasePlugin):
    """An apispec plugin: every operation under a channel's path prefixes requires that channel's scheme."""

    def __init__(self, spec: APISpec) -> None:
        self.spec = spec
        self.schemes: list[tuple[str, str]] = []  # (path prefix, scheme name)
        # Added after flask-smorest made the spec, so it sees every path registered from now on.
        spec.plugins.append(self)
        self.init_spec(spec)

    def declare(self, auth: ChannelAuth, prefixes: list[str], *, settings: Settings) -> None:
        """Declare the channel's scheme; call before its blueprint is registered."""
        name = f"{auth.channel}_{auth.scheme.value}"
        self.spec.components.security_scheme(name, security_scheme(auth, settings=settings))
        self.schemes.extend((prefix.rstrip("/"), name) for prefix in prefixes)

    def operation_helper(self, path: str | None = None, operations: dict[str, Any] | None = None, **_: Any) -> None:
        name = next(
            (name for prefix, name in self.schemes if path == prefix or (path or "").startswith(prefix + "/")), None
        )
        if name is None or not operations:
            return
        for operation in operations.values():
            operation.setdefault("security", [{name: []}])
