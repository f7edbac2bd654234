"""The console is off unless enabled, never touches the partner channels, and production needs its key."""

import pytest
from biller_server.config import MissingSettingError, load_settings

from biller_server.app import create_app
from biller_server.console import DEVELOPMENT_KEY_FILE, console_secret_key
from tests.config.test_settings import PRODUCTION_READY
from tests.conftest import make_settings
from tests.console.conftest import sign_in


def test_without_the_setting_there_is_no_console(tmp_path):
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'x.sqlite3'}"))

    response = app.test_client().get("/console/sign-in")

    assert response.status_code == 404
    assert response.mimetype == "application/json"  # the generic JSON error: no console renderer either
    assert not any(rule.rule.startswith("/console") for rule in app.url_map.iter_rules())


def test_production_refuses_to_enable_the_console_without_its_secret_key():
    with pytest.raises(MissingSettingError, match="BILLER_CONSOLE_SECRET_KEY"):
        load_settings(**PRODUCTION_READY, console_enabled=True).check_production()
    with pytest.raises(MissingSettingError, match="at least 32 characters"):
        load_settings(**PRODUCTION_READY, console_enabled=True, console_secret_key="short").check_production()

    load_settings(**PRODUCTION_READY, console_enabled=True, console_secret_key="s" * 32).check_production()
    load_settings(**PRODUCTION_READY).check_production()  # the console off: no key needed


def test_in_production_the_session_cookie_is_secure(tmp_path):
    settings = load_settings(
        **PRODUCTION_READY,
        database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}",
        console_enabled=True,
        console_secret_key="s" * 32,
    )
    app = create_app(settings)

    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_outside_production_an_unset_key_is_made_once_in_the_instance_folder(tmp_path):
    settings = load_settings(env="development", instance_dir=tmp_path, console_enabled=True)

    first, second = console_secret_key(settings), console_secret_key(settings)

    assert first == second and len(first) == 64
    path = tmp_path / DEVELOPMENT_KEY_FILE
    assert path.read_text() == first
    assert path.stat().st_mode & 0o077 == 0  # readable by its owner only
    assert list(tmp_path.iterdir()) == [path]  # no draft left behind


def test_partner_calls_neither_get_nor_need_the_console_s_cookie(signed_in, kaleidofin_headers):
    client = signed_in("viewer")

    response = client.post(
        "/bills/fetchBills",
        json=[{"identifierKey": "customerId", "identifierValue": "NOBODY"}],
        headers=kaleidofin_headers,
    )

    assert "Set-Cookie" not in response.headers
    assert response.json["error"]["code"] == "customer-not-found"  # answered by the channel, in its shape
    assert "Vary" not in response.headers or "Cookie" not in response.headers["Vary"]


def test_a_partner_error_keeps_its_channel_shape_with_the_console_enabled(client):
    response = client.post("/bills/fetchBills", json=[], headers={"X-API-Key": "wrong"})

    assert response.status_code == 401
    assert response.json["success"] is False


def test_the_console_s_cookie_is_never_sent_to_the_partner_paths(client, staff):
    response = sign_in(client, "viewer")

    assert "Path=/console" in response.headers["Set-Cookie"]
    assert client.get_cookie("biller_console", path="/console") is not None
    assert client.get_cookie("biller_console", path="/") is None
