"""The application factory: each step is a small named function, so the order of set-up reads top to bottom."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from biller_server import __version__
from biller_server.build import build_info
from biller_server.channels import CHANNELS
from biller_server.config import Settings, load_settings
from biller_server.console import init_console
from biller_server.domain.payments.events import PaymentEvents, configure_payment_events
from biller_server.extensions import init_extensions
from biller_server.http import health, landing, openapi
from biller_server.http.channels import ChannelRegistry
from biller_server.http.errors import ChannelErrorRenderers, register_error_handlers
from biller_server.http.logging import configure_logging, init_request_logging
from biller_server.http.metrics import init_metrics
from biller_server.http.transport import init_transport


def create_app(settings: Settings | None = None, *, check_production: bool = True) -> Flask:
    """The app; ``check_production=False`` for commands that only read or write the books (they need the database,
    not the partner secrets that serving the channels needs)."""
    settings = settings or load_settings()
    if check_production:
        settings.check_production()
    configure_logging(settings)
    # Process-wide, like logging: final payment states are queued for the lender's webhook only when it is set.
    configure_payment_events(PaymentEvents() if settings.webhook_url else None)

    app = Flask(__name__, instance_path=str(settings.instance_dir.resolve()))
    app.config.update(_flask_config(settings))
    if settings.trust_forwarded_for:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # type: ignore[method-assign]

    api = init_extensions(app, settings)
    init_request_logging(app)
    init_transport(app)  # after the request id is set, before authentication
    renderers = ChannelErrorRenderers()
    register_error_handlers(app, renderers)
    app.register_blueprint(health.blueprint)
    app.extensions[landing.BUILD_KEY] = build_info(settings)
    app.register_blueprint(landing.blueprint)
    app.register_blueprint(openapi.blueprint)
    init_metrics(app)
    registry = ChannelRegistry(app, api, renderers)
    for name in settings.enabled_channels():
        # A channel that is off (BILLER_CHANNELS) has no routes, no OpenAPI entry and no authentication to set up.
        registry.register(CHANNELS[name].channel_spec(settings))
    if settings.console_enabled:
        init_console(app, settings, renderers)  # the staff's pages under /console (docs/console.md)
    return app


def _flask_config(settings: Settings) -> dict[str, object]:
    return {
        "MAX_CONTENT_LENGTH": settings.max_request_bytes,
        # No endpoint answers OPTIONS itself: partners call POST only, and nothing here serves a browser's CORS
        # preflight. OPTIONS is then 405 with Allow, after the channel's authentication like any other method.
        "PROVIDE_AUTOMATIC_OPTIONS": False,
        "API_TITLE": "biller-server",
        "API_VERSION": __version__,
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        **openapi.swagger_ui_config(),
        "OPENAPI_RAPIDOC_PATH": None,
        "API_SPEC_OPTIONS": {
            "info": {"description": "Biller-side BBPS endpoints for lenders. See docs/ for each channel."},
        },
    }
