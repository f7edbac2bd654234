"""``GET /``: a person who opens the server sees what it is, its version, and where to go."""

import re

import pytest

from biller_server import __version__
from biller_server.app import create_app
from biller_server.build import UNKNOWN, checkout_commit
from tests.conftest import make_settings


def test_the_landing_page_names_the_product_and_its_version_and_links_to_the_docs(client):
    response = client.get("/")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "<h1>biller-server</h1>" in response.text
    assert f"version <code>{__version__}</code>" in response.text
    links = re.findall(r'<a href="([^"]+)"', response.text)
    assert links == ["/docs", "/openapi.json", "/healthz", "/readyz"]
    for link in links:
        assert client.get(link).status_code == 200, link


def test_the_landing_page_loads_nothing_from_outside(client):
    html = client.get("/").text

    assert not re.search(r"<(script|link|img)\b", html)
    assert "http://" not in html and "https://" not in html


def test_a_client_asking_for_json_gets_the_same_facts(client):
    response = client.get("/", headers={"Accept": "application/json"})

    assert response.json["product"] == "biller-server"
    assert response.json["version"] == __version__
    assert set(response.json["links"]) == {"/docs", "/openapi.json", "/healthz", "/readyz"}


def test_the_build_commit_setting_is_shown(tmp_path):
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'x.sqlite3'}", build_commit="0123456789ab"))

    assert "commit <code>0123456789ab</code>" in app.test_client().get("/").text


def test_without_the_setting_a_checkout_shows_its_own_commit(tmp_path):
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'x.sqlite3'}"))

    commit = app.test_client().get("/", headers={"Accept": "application/json"}).json["commit"]

    assert commit == checkout_commit()
    if commit == UNKNOWN:
        pytest.skip("not run from a git checkout")
    assert re.fullmatch(r"[0-9a-f]{12}", commit)


def test_the_landing_page_escapes_what_it_shows(tmp_path):
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'x.sqlite3'}", build_commit="<script>x</script>"))

    assert "<script>x</script>" not in app.test_client().get("/").text
