"""``GET /``: a small page for a person who opens the server in a browser (what it is, which version, where to go).

A client that asks for JSON (``Accept: application/json``) gets the same facts as JSON. Nothing on the page comes
from outside the server: its style is inline and every link is one of this server's own paths.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template_string, request
from flask.typing import ResponseReturnValue

from biller_server.build import BuildInfo

BUILD_KEY = "biller_server.build"

blueprint = Blueprint("landing", __name__)

LINKS = (
    ("/docs", "API documentation", "every partner endpoint, tried from the page with Authorize"),
    ("/openapi.json", "OpenAPI document", "for generating clients"),
    ("/healthz", "Liveness", "the process answers"),
    ("/readyz", "Readiness", "the database and its schema; the workers' heartbeats"),
)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>biller-server {{ build.version }}</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 42rem; margin: 3rem auto; padding: 0 1rem; color: #1f2933; }
  h1 { margin-bottom: 0.2rem; }
  .version { color: #52606d; margin-top: 0; }
  li { margin: 0.5rem 0; }
  a { color: #0b5cad; font-weight: 600; }
  code { background: #f0f4f8; padding: 0.1rem 0.3rem; border-radius: 3px; }
</style>
</head>
<body>
<h1>biller-server</h1>
<p class="version">version <code>{{ build.version }}</code>, commit <code>{{ build.commit }}</code></p>
<p>The biller side of BBPS (Bharat Bill Payment System) for lenders: it answers the partners' bill fetch and
payment calls, keeps the books and confirms every payment with the partner.</p>
<ul>
{% for path, title, note in links %}  <li><a href="{{ path }}">{{ title }}</a> <code>{{ path }}</code>: {{ note }}</li>
{% endfor %}</ul>
</body>
</html>
"""


def build() -> BuildInfo:
    return current_app.extensions[BUILD_KEY]


@blueprint.get("/")
def landing() -> ResponseReturnValue:
    """The product, its version and the links a person needs (a client asking for JSON gets JSON)."""
    info = build()
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json":
        return jsonify(
            product="biller-server",
            version=info.version,
            commit=info.commit,
            links={path: title for path, title, _ in LINKS},
        )
    return render_template_string(PAGE, build=info, links=LINKS)
