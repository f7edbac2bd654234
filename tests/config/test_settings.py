import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from biller_server.config import MissingSettingError, Settings, SettingsError, load_settings
from biller_server.config.settings import unknown_variables
from click.testing import CliRunner

from biller_server.app import create_app
from biller_server.cli import cli

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "biller-server"


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
    assert settings.kaleidofin.allowed_networks == ["10.0.0.0/8"]


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


def test_production_cli_start_without_secrets_exits_non_zero_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("BILLER_ENV", "production")
    monkeypatch.setenv("BILLER_DATABASE_URL", f"sqlite:///{tmp_path / 'books.sqlite3'}")
    monkeypatch.delenv("BILLER_KALEIDOFIN_API_KEY", raising=False)
    assert CliRunner().invoke(cli, ["db", "upgrade"]).exit_code == 0  # migrating needs no partner secret

    result = CliRunner().invoke(cli, ["worker", "--once"])

    assert result.exit_code == 78  # EX_CONFIG: a service manager need not restart it
    assert result.output.count("\n") == 1, result.output
    assert "BILLER_KALEIDOFIN_API_KEY" in result.output


def test_invalid_allow_list_is_refused_at_start():
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        Settings(kaleidofin_allowed_networks=["not-a-network"])


def _documented_variables(text: str) -> set[str]:
    return set(re.findall(r"\bBILLER_[A-Z0-9_]+\b", text))


def test_every_setting_is_documented_in_config_readme():
    declared = {f"BILLER_{name.upper()}" for name in Settings.variable_names()}
    documented = _documented_variables((ROOT / "config" / "README.md").read_text())
    assert declared - documented == set()
    assert documented - declared == set()


def test_env_example_lists_every_setting():
    declared = {f"BILLER_{name.upper()}" for name in Settings.variable_names()}
    assert _documented_variables((ROOT / "config" / ".env.example").read_text()) == declared


def test_an_empty_variable_counts_as_unset(monkeypatch):
    monkeypatch.setenv("BILLER_KALEIDOFIN_API_KEY", "")
    monkeypatch.setenv("BILLER_DATABASE_URL", "")
    settings = load_settings(env="production")
    assert settings.kaleidofin.api_key is None
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


def test_a_channels_variables_set_its_nested_settings(monkeypatch):
    monkeypatch.setenv("BILLER_KALEIDOFIN_AUTH_SCHEME", "jwt")
    monkeypatch.setenv("BILLER_KALEIDOFIN_JWT_AUDIENCE", "biller-42")
    monkeypatch.setenv("BILLER_KALEIDOFIN_IDENTIFIER_KEYS", '{"accountRef": "loan_account_number"}')
    monkeypatch.setenv("BILLER_KALEIDOFIN_STATUS_URL", "https://kaleidofin.example/status")  # not the channel's
    settings = load_settings()
    assert (settings.kaleidofin.auth_scheme, settings.kaleidofin.jwt_audience) == ("jwt", "biller-42")
    assert settings.kaleidofin.identifier_keys == {"accountRef": "loan_account_number"}
    assert settings.kaleidofin_status_url == "https://kaleidofin.example/status"
    assert settings.digiledge.auth_scheme == "api_key"


def test_digiledges_identifier_names_keep_their_variable_customer_params(monkeypatch):
    monkeypatch.setenv("BILLER_DIGILEDGE_CUSTOMER_PARAMS", '{"Account No": "loan_account_number"}')
    monkeypatch.setenv("BILLER_DIGILEDGE_IDENTIFIER_KEYS", '{"Ignored": "mobile"}')  # not Digiledge's name for it
    assert load_settings().digiledge.identifier_keys == {"Account No": "loan_account_number"}
    assert load_settings(digiledge_customer_params={"Ref": "customer_id"}).digiledge.identifier_keys == {
        "Ref": "customer_id"
    }


def test_flat_keyword_overrides_win_over_the_environment_for_that_variable_only(monkeypatch):
    monkeypatch.setenv("BILLER_KALEIDOFIN_API_KEY", "from-the-environment")
    monkeypatch.setenv("BILLER_KALEIDOFIN_ALLOWED_NETWORKS", '["10.0.0.0/8"]')
    settings = load_settings(kaleidofin_api_key="from-the-caller")
    assert settings.secret("kaleidofin_api_key") == "from-the-caller"
    assert settings.kaleidofin.allowed_networks == ["10.0.0.0/8"]


def test_a_channel_is_confirmed_by_its_own_partner_unless_told_otherwise():
    settings = load_settings(digiledge_confirmed_by="PayU")
    assert (settings.kaleidofin.confirmed_by, settings.digiledge.confirmed_by) == ("kaleidofin", "payu")
    with pytest.raises(ValueError, match="not a partner with a status client"):
        load_settings(kaleidofin_confirmed_by="nobody")


def test_every_variable_name_is_one_setting():
    names = Settings.variable_names()
    assert len(names) == len(set(names))
    assert {"kaleidofin_api_key", "digiledge_customer_params", "digiledge_path_prefix"} <= set(names)
    assert "digiledge_identifier_keys" not in names


class TestChannelsSwitch:
    def test_kaleidofin_and_digiledge_are_on_unless_told(self):
        assert list(load_settings().enabled_channels()) == ["kaleidofin", "digiledge"]

    def test_setu_is_served_only_when_named(self, monkeypatch):
        monkeypatch.setenv("BILLER_CHANNELS", "kaleidofin,setu")

        assert list(load_settings().enabled_channels()) == ["kaleidofin", "setu"]

    def test_production_without_setu_secrets_starts_when_setu_is_not_named(self):
        settings = load_settings(
            env="production",
            kaleidofin_api_key="k" * 20,
            kaleidofin_status_url="https://kaleidofin.example/status",
            digiledge_api_key="d" * 20,
            digiledge_payment_status_url="https://digiledge.example/status",
            digiledge_biller_id="BILLER1",
        )

        settings.check_production()  # no Setu key, JWT secret or Setu client settings

    def test_production_names_what_setu_needs_when_it_is_named(self):
        settings = load_settings(env="production", channels="setu", setu_auth_scheme="jwt")

        with pytest.raises(MissingSettingError) as refused:
            settings.check_production()

        for variable in ("BILLER_SETU_JWT_SECRET", "BILLER_SETU_JWT_AUDIENCE", "BILLER_SETU_PRODUCT_INSTANCE_ID"):
            assert variable in str(refused.value)

    def test_biller_channels_names_the_channels_served(self, monkeypatch):
        monkeypatch.setenv("BILLER_CHANNELS", " Kaleidofin ,")

        assert list(load_settings().enabled_channels()) == ["kaleidofin"]

    def test_an_unknown_channel_is_refused_naming_the_known_ones(self, monkeypatch):
        monkeypatch.setenv("BILLER_CHANNELS", "kaleidofn")

        with pytest.raises(SettingsError) as refused:
            load_settings()

        assert str(refused.value) == (
            "BILLER_CHANNELS='kaleidofn': unknown channel kaleidofn; "
            "expected a comma-separated list of kaleidofin, digiledge, setu"
        )

    def test_production_asks_nothing_of_a_channel_that_is_off(self):
        settings = load_settings(
            env="production",
            channels="kaleidofin",
            kaleidofin_api_key="k" * 20,
            kaleidofin_status_url="https://kaleidofin.example/status",
        )

        settings.check_production()  # no Digiledge key, no Digiledge status URL or biller id

    def test_production_names_what_the_enabled_channels_need(self):
        settings = load_settings(env="production", channels="digiledge")

        with pytest.raises(MissingSettingError) as refused:
            settings.check_production()

        message = str(refused.value)
        assert message.startswith("BILLER_ENV=production with BILLER_CHANNELS=digiledge needs these variables")
        assert "BILLER_DIGILEDGE_API_KEY" in message and "BILLER_DIGILEDGE_PAYMENT_STATUS_URL" in message
        assert "KALEIDOFIN" not in message

    def test_a_channel_that_is_off_has_no_routes_and_no_openapi_entry(self):
        app = create_app(load_settings(env="test", channels="kaleidofin", database_url="sqlite:///:memory:"))

        rules = {rule.rule for rule in app.url_map.iter_rules()}
        spec = app.test_client().get("/openapi.json").json
        assert "/bills/fetchBills" in rules
        assert not any(rule.startswith("/digiledge") for rule in rules)
        assert not any(path.startswith("/digiledge") for path in spec["paths"])
        assert "digiledge" not in {tag["name"] for tag in spec.get("tags", [])}
        assert app.test_client().post("/digiledge/fetch", json={}).status_code == 404


class TestOneLinePerBadValue:
    @pytest.mark.parametrize(
        ("variable", "value", "line"),
        [
            ("BILLER_ENV", "prod", "BILLER_ENV='prod': expected one of development, test, production"),
            ("BILLER_DATABASE_POOL_SIZE", "ten", "BILLER_DATABASE_POOL_SIZE='ten': expected a whole number"),
            ("BILLER_DATABASE_POOL_SIZE", "0", "BILLER_DATABASE_POOL_SIZE='0': expected a number at least 1"),
            ("BILLER_TRUST_FORWARDED_FOR", "maybe", "BILLER_TRUST_FORWARDED_FOR='maybe': expected true or false"),
            (
                "BILLER_KALEIDOFIN_AUTH_SCHEME",
                "token",
                "BILLER_KALEIDOFIN_AUTH_SCHEME='token': expected one of api_key, basic, jwt",
            ),
            (
                "BILLER_KALEIDOFIN_ALLOWED_NETWORKS",
                "10.0.0.0/8",
                "BILLER_KALEIDOFIN_ALLOWED_NETWORKS='10.0.0.0/8': expected JSON, e.g. [\"10.20.0.0/16\"]",
            ),
        ],
    )
    def test_a_bad_value_is_one_line_naming_the_variable_and_what_it_accepts(self, monkeypatch, variable, value, line):
        monkeypatch.setenv(variable, value)

        with pytest.raises(SettingsError) as refused:
            load_settings()

        assert refused.value.lines == [line]

    def test_a_secret_is_never_repeated_in_the_message(self, monkeypatch):
        monkeypatch.setenv("BILLER_KALEIDOFIN_API_KEY", "s3cret-value")
        monkeypatch.setenv("BILLER_KALEIDOFIN_CONFIRMED_BY", "nobody")

        with pytest.raises(SettingsError) as refused:
            load_settings()

        assert "s3cret-value" not in str(refused.value)
        assert str(refused.value).startswith("BILLER_KALEIDOFIN_CONFIRMED_BY='nobody': 'nobody' is not a partner")

    @pytest.mark.parametrize(
        ("url", "accepts"),
        [
            ("postgresq://biller:pa55word@db.example/biller", "expected a sqlite or postgresql URL, not 'postgresq'"),
            ("mysql://biller:pa55word@db.example/biller", "expected a sqlite or postgresql URL, not 'mysql'"),
            ("biller:pa55word@db.example", "expected a database URL"),
        ],
    )
    def test_a_database_url_that_cannot_be_opened_is_one_line_without_its_password(self, monkeypatch, url, accepts):
        monkeypatch.setenv("BILLER_DATABASE_URL", url)

        with pytest.raises(SettingsError) as refused:
            load_settings()

        assert refused.value.lines == [
            f"BILLER_DATABASE_URL: {accepts}: "
            "e.g. sqlite:///instance/biller.sqlite3 or postgresql://biller@db.example/biller"
        ]
        assert "pa55word" not in str(refused.value)

    def test_an_unknown_biller_variable_is_found(self):
        environ = {"BILLER_KALEDOFIN_API_KEY": "x", "BILLER_ENV": "test", "BILLER_TEST_POSTGRES_URL": "x", "HOME": "/"}

        assert unknown_variables(environ) == ["BILLER_KALEDOFIN_API_KEY"]


class TestCommandLine:
    @pytest.mark.parametrize(("variable", "value"), [("BILLER_ENV", "prod"), ("BILLER_DATABASE_POOL_SIZE", "ten")])
    def test_a_bad_value_stops_any_command_with_one_line(self, monkeypatch, variable, value):
        monkeypatch.setenv(variable, value)

        result = CliRunner().invoke(cli, ["bills", "list"])

        assert result.exit_code == 78
        assert result.output.count("\n") == 1, result.output
        assert result.output.startswith(f"Error: {variable}='{value}': expected ")

    def test_a_misspelt_database_url_stops_a_command_run_from_another_folder_with_one_line(self, tmp_path):
        env = {key: value for key, value in os.environ.items() if not key.startswith("BILLER_")}
        env["BILLER_DATABASE_URL"] = "postgresq://biller:pa55word@db.example/biller"

        result = subprocess.run(
            [str(BIN), "payments", "list"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )

        assert result.returncode == 78
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.startswith(
            "Error: BILLER_DATABASE_URL: expected a sqlite or postgresql URL, not 'postgresq'"
        )
        assert "pa55word" not in result.stderr

    def test_an_unknown_variable_is_warned_about_in_one_line(self, monkeypatch, tmp_path):
        monkeypatch.setenv("BILLER_KALEDOFIN_API_KEY", "x")
        monkeypatch.setenv("BILLER_DATABASE_URL", f"sqlite:///{tmp_path / 'missing.sqlite3'}")

        result = CliRunner().invoke(cli, ["bills", "list"])

        assert result.stderr.splitlines()[0] == (
            "Warning: BILLER_KALEDOFIN_API_KEY is not a setting (a typo? every setting is in config/README.md)"
        )


def test_secret_values_are_every_secret_setting_in_effect_and_nothing_else():
    settings = load_settings(
        env="development",
        metrics_token="metrics-token-1",
        webhook_secret="webhook-secret-1",
        payu_client_secret="payu-secret-1",
        digiledge_basic_password="basic-password-1",
        payu_client_id="not-a-secret-id",
        digiledge_tenant_id="DGLG",
    )
    values = settings.secret_values()
    assert {"metrics-token-1", "webhook-secret-1", "payu-secret-1", "basic-password-1"} <= set(values)
    assert {"dev-kaleidofin-key", "dev-digiledge-key"} <= set(values)  # development placeholders are in effect
    assert "not-a-secret-id" not in values and "DGLG" not in values
    assert "dev-kaleidofin-key" not in load_settings(env="production").secret_values()
