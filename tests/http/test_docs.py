"""``/docs`` and ``/openapi.json``: Swagger UI from the installed package (nothing from outside), and each
channel's security scheme declared, so that Authorize works and generated clients know how to authenticate."""

import re
from pathlib import Path

import pytest

from biller_server.app import create_app
from biller_server.http.openapi import SWAGGER_UI_DIST, SWAGGER_UI_FILES, SWAGGER_UI_VERSION
from tests.conftest import make_settings


@pytest.fixture
def make_client(tmp_path):
    """A client of an app built with these settings (no database is touched)."""

    def make(**overrides):
        return create_app(make_settings(f"sqlite:///{tmp_path / 'docs.sqlite3'}", **overrides)).test_client()

    return make


def page_assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_the_docs_page_loads_only_files_this_server_serves(make_client):
    client = make_client()

    html = client.get("/docs").text

    assets = page_assets(html)
    assert sorted(Path(asset).name for asset in assets) == [
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-ui.css",
    ]
    assert "http://" not in html and "https://" not in html  # no CDN, no absolute URL of any kind
    for asset in assets:
        with client.get(asset) as response:
            assert response.status_code == 200, asset
            assert response.data == (SWAGGER_UI_DIST / Path(asset).name).read_bytes()  # the installed package's


def test_swagger_ui_is_the_pinned_version_with_its_licence(make_client):
    client = make_client()

    with client.get(f"/docs/swagger-ui/{SWAGGER_UI_VERSION}/LICENSE") as licence:
        assert licence.status_code == 200 and "Apache License" in licence.text
        assert licence.mimetype == "text/plain"
    assert SWAGGER_UI_VERSION == "5.34.0"  # pyproject.toml pins flask-swagger-ui==5.34.0, which carries it


def test_the_assets_are_cached_for_good_since_their_path_names_the_version(make_client):
    with make_client().get(f"/docs/swagger-ui/{SWAGGER_UI_VERSION}/swagger-ui.css") as response:
        assert response.mimetype == "text/css"
        assert response.cache_control.max_age == 365 * 24 * 3600 and response.cache_control.immutable


@pytest.mark.parametrize(
    "path",
    [
        f"/docs/swagger-ui/{SWAGGER_UI_VERSION}/index.html",  # in the package, but not a file /docs uses
        f"/docs/swagger-ui/{SWAGGER_UI_VERSION}/..%2F__init__.py",
        f"/docs/swagger-ui/{SWAGGER_UI_VERSION}/%2E%2E/flask_swagger_ui.py",
        "/docs/swagger-ui/4.0.0/swagger-ui.css",  # another version is not served under this one's name
    ],
)
def test_only_the_listed_files_of_this_version_are_served(make_client, path):
    assert make_client().get(path).status_code == 404


def test_every_listed_file_exists_in_the_installed_package():
    assert all((SWAGGER_UI_DIST / name).is_file() for name in SWAGGER_UI_FILES)


def test_the_online_validator_badge_is_off(make_client):
    # Swagger UI's badge would send the document's URL to validator.swagger.io from every browser that opens /docs.
    assert '"validatorUrl": null' in make_client().get("/docs").text


def security_of(document):
    return {
        (path, method): operation.get("security")
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }


def test_every_channel_operation_requires_its_channels_api_key(make_client):
    document = make_client().get("/openapi.json").json

    schemes = document["components"]["securitySchemes"]
    assert schemes["kaleidofin_api_key"]["type"] == "apiKey"
    assert (schemes["kaleidofin_api_key"]["in"], schemes["kaleidofin_api_key"]["name"]) == ("header", "X-API-Key")
    security = security_of(document)
    assert security[("/bills/fetchBills", "post")] == [{"kaleidofin_api_key": []}]
    assert security[("/bills/fetchReceipt", "post")] == [{"kaleidofin_api_key": []}]
    digiledge = {key: value for key, value in security.items() if key[0].startswith("/digiledge/")}
    assert len(digiledge) >= 4 and all(value == [{"digiledge_api_key": []}] for value in digiledge.values())
    assert all(value is not None for value in security.values())  # no operation is documented as open


def test_the_configured_header_name_is_the_one_documented(make_client):
    document = make_client(kaleidofin_api_key_header="X-Kaleidofin-Key").get("/openapi.json").json

    assert document["components"]["securitySchemes"]["kaleidofin_api_key"]["name"] == "X-Kaleidofin-Key"


def test_basic_and_jwt_channels_document_their_schemes(make_client):
    client = make_client(
        kaleidofin_auth_scheme="basic",
        kaleidofin_basic_username="kfin",
        kaleidofin_basic_password="secret",
        digiledge_auth_scheme="jwt",
        digiledge_jwt_secret="jwt-secret",
        digiledge_jwt_audience="biller",
        setu_auth_scheme="jwt",
        setu_jwt_secret="setu-jwt-secret",
        setu_jwt_audience="scheme-id",
    )

    document = client.get("/openapi.json").json

    schemes = document["components"]["securitySchemes"]
    assert {key: (value["type"], value["scheme"]) for key, value in schemes.items()} == {
        "kaleidofin_basic": ("http", "basic"),
        "digiledge_jwt": ("http", "bearer"),
        "setu_jwt": ("http", "bearer"),
    }
    assert schemes["digiledge_jwt"]["bearerFormat"] == "JWT"
    security = security_of(document)
    assert security[("/bills/fetchBills", "post")] == [{"kaleidofin_basic": []}]
    assert security[("/digiledge/payment", "post")] == [{"digiledge_jwt": []}]
    for path in ("/setu/bills/fetch", "/setu/customer/validate", "/setu/bills/fetchReceipt", "/setu/notifications"):
        assert security[(path, "post")] == [{"setu_jwt": []}]


def test_the_digiledge_path_prefix_is_followed(make_client):
    security = security_of(make_client(digiledge_path_prefix="/bbps/digiledge").get("/openapi.json").json)

    assert security[("/bbps/digiledge/payment", "post")] == [{"digiledge_api_key": []}]


class TestDevelopmentKeyHint:
    """The Authorize dialog names the development placeholder key only while it is the key in force."""

    def test_named_in_development_while_no_key_is_set(self, make_client):
        client = make_client(env="development", kaleidofin_api_key=None)

        description = client.get("/openapi.json").json["components"]["securitySchemes"]["kaleidofin_api_key"]

        assert "`dev-kaleidofin-key`" in description["description"]

    def test_not_named_once_a_key_is_set(self, make_client):
        document = make_client(env="development").get("/openapi.json").json  # the test settings set both keys

        assert "dev-" not in str(document["components"]["securitySchemes"])

    def test_never_named_in_production(self, make_client):
        client = make_client(
            env="production", kaleidofin_status_url="https://kfin.example/status", digiledge_confirmed_by="kaleidofin"
        )

        assert "dev-" not in str(client.get("/openapi.json").json["components"]["securitySchemes"])
