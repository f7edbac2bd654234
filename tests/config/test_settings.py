import re
from pathlib import Path

import pytest
from biller_server.config import MissingSettingError, Settings, load_settings
from click.testing import CliRunner

from biller_server.app import create_app
from biller_server.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def test_default_database_is_a_sqlite_file_under_the_instance_folder(monkeypatch):
    monkeypatch.delenv("BILLER_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.resolved_database_url.startswith("sqlite:///")
    assert settings.resolved_database_url.endswith("/instance/biller.sqlite3")


def test_settings_are_read_from_biller_prefixed_environment(monkeypatch):
    monkeypatch.setenv("BILLER_DATABASE_URL", "postgresql://db.example/biller")
    monkeypatch.setenv("BILLER_KALEIDOFIN_ALLOWED_NETWORKS", '["10.0.0.0/8"]')
    settings = load_settings()
    assert settings.database_url == "postgresql://db.example/biller"
    assert settings.kaleidofin_allowed_networks == ["10.0.0.0/8"]


def test_development_runs_with_placeholder_secrets():
    assert load_settings(env="development").secret("kaleidofin_api_key") == "dev-kaleidofin-key"


def test_production_has_no_placeholder_secrets():
    assert load_settings(env="production").secret("kaleidofin_api_key") is None


def test_production_start_without_partner_secrets_names_the_missing_variables():
    with pytest.raises(MissingSettingError) as excinfo:
        create_app(load_settings(env="production", database_url="sqlite:///:memory:"))
    message = str(excinfo.value)
    assert "BILLER_KALEIDOFIN_API_KEY" in message
    assert "BILLER_DIGILEDGE_API_KEY" in message


def test_production_with_basic_auth_needs_username_and_password():
    settings = load_settings(env="production", kaleidofin_auth_scheme="basic", digiledge_api_key="k" * 20)
    with pytest.raises(
        MissingSettingError, match=r"BILLER_KALEIDOFIN_BASIC_USERNAME.*BILLER_KALEIDOFIN_BASIC_PASSWORD"
    ):
        settings.check_production()


def test_production_cli_start_without_secrets_exits_non_zero_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("BILLER_ENV", "production")
    monkeypatch.setenv("BILLER_DATABASE_URL", "sqlite:///:memory:")
    monkeypatch.delenv("BILLER_KALEIDOFIN_API_KEY", raising=False)
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code != 0
    assert "BILLER_KALEIDOFIN_API_KEY" in result.output


def test_invalid_allow_list_is_refused_at_start():
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        Settings(kaleidofin_allowed_networks=["not-a-network"])


def _documented_variables(text: str) -> set[str]:
    return set(re.findall(r"\bBILLER_[A-Z0-9_]+\b", text))


def test_every_setting_is_documented_in_config_readme():
    declared = {f"BILLER_{name.upper()}" for name in Settings.model_fields}
    documented = _documented_variables((ROOT / "config" / "README.md").read_text())
    assert declared - documented == set()
    assert documented - declared == set()


def test_env_example_lists_every_setting():
    declared = {f"BILLER_{name.upper()}" for name in Settings.model_fields}
    assert _documented_variables((ROOT / "config" / ".env.example").read_text()) == declared


def test_an_empty_variable_counts_as_unset(monkeypatch):
    monkeypatch.setenv("BILLER_KALEIDOFIN_API_KEY", "")
    monkeypatch.setenv("BILLER_DATABASE_URL", "")
    settings = load_settings(env="production")
    assert settings.kaleidofin_api_key is None
    assert settings.database_url is None


PRODUCTION_READY = {
    "env": "production",
    "kaleidofin_api_key": "k" * 20,
    "digiledge_api_key": "d" * 20,
    "kaleidofin_status_url": "https://kaleidofin.example/status",
    "digiledge_payment_status_url": "https://digiledge.example/status",
    "digiledge_biller_id": "BILLER42",
}


def test_production_with_a_webhook_url_needs_its_secret():
    # Events are never sent unsigned: with the URL and no secret they would queue for a day and never be sent.
    settings = load_settings(**PRODUCTION_READY, webhook_url="https://lms.example/hooks/biller")
    with pytest.raises(MissingSettingError, match=r"not set: BILLER_WEBHOOK_SECRET$"):
        settings.check_production()

    load_settings(
        **PRODUCTION_READY, webhook_url="https://lms.example/hooks", webhook_secret="s" * 32
    ).check_production()
    load_settings(**PRODUCTION_READY).check_production()  # no webhook at all: nothing more needed
    load_settings(**{**PRODUCTION_READY, "env": "development"}, webhook_url="https://lms.example/h").check_production()


def test_production_webhook_url_from_the_environment_without_its_secret_is_refused(monkeypatch):
    monkeypatch.setenv("BILLER_WEBHOOK_URL", "https://lms.example/hooks/biller")
    monkeypatch.setenv("BILLER_WEBHOOK_SECRET", "")  # empty counts as unset
    with pytest.raises(MissingSettingError, match="BILLER_WEBHOOK_SECRET"):
        create_app(load_settings(**PRODUCTION_READY, database_url="sqlite:///:memory:"))
