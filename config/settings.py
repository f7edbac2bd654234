"""Every setting of biller-server, its type and its default.

Settings are read from the environment once, at start-up, with the prefix ``BILLER_`` (``BILLER_DATABASE_URL``
sets ``database_url``; lists and maps are JSON). Each inbound channel's settings are one ``ChannelSettings`` field
(``Settings.kaleidofin``), whose fields are still flat variables: ``BILLER_KALEIDOFIN_API_KEY`` sets
``kaleidofin.api_key``, and ``load_settings(kaleidofin_api_key=...)`` does the same. ``config/README.md``
documents each variable; a test checks that it names every one (``Settings.variable_names()``).
"""

from __future__ import annotations

import enum
import ipaddress
import json
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import pydantic_settings
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ChannelAuthScheme(enum.StrEnum):
    API_KEY = "api_key"
    BASIC = "basic"
    JWT = "jwt"  # Setu's scheme: an HS256 bearer token per request, with aud, iat and a unique jti


class DigiledgeAmountUnit(enum.StrEnum):
    """How Digiledge writes amounts (its pages never say): docs/channels/digiledge.md, "Amounts"."""

    RUPEES = "rupees"  # "1000.50"
    PAISE = "paise"  # "100050"


class MissingSettingError(RuntimeError):
    """A setting that production needs has no value."""


class SettingsError(ValueError):
    """Settings that cannot be read: one line per variable, naming it and what it accepts (never a traceback)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


DEFAULT_INSTANCE_DIR = Path("instance")

# The partners with a status client (biller_server/clients/registry.py builds one per name): what a channel's
# BILLER_<CHANNEL>_CONFIRMED_BY may name. "fake" answers from memory and is refused in production.
PARTNERS = ("kaleidofin", "digiledge", "payu", "cashfree", "setu", "fake")
IDENTIFIER_MEANINGS = ("customer_id", "loan_account_number", "mobile", "name")


def development_secret(name: str) -> str | None:
    """The placeholder of a secret in development and test, so that a fresh checkout runs without set-up: each
    channel's API key is ``dev-<channel>-key``. A production start refuses placeholders (Settings.check_production)."""
    channel, _, field_name = name.partition("_")
    return f"dev-{channel}-key" if field_name == "api_key" and channel in Settings.channel_names() else None


class ChannelSettings(BaseModel):
    """One inbound partner channel: how it proves who it is, who confirms its payments, which identifiers it takes.

    Declared once per channel on ``Settings`` (``kaleidofin: KaleidofinSettings``); each field is the variable
    ``BILLER_<CHANNEL>_<FIELD>``, or ``BILLER_<CHANNEL>_<ALIAS>`` for a field with an alias.
    """

    model_config = ConfigDict(extra="ignore")  # BILLER_KALEIDOFIN_STATUS_URL and the like are not the channel's

    auth_scheme: ChannelAuthScheme = ChannelAuthScheme.API_KEY
    api_key_header: str = "X-API-Key"
    api_key: SecretStr | None = None
    previous_api_key: SecretStr | None = None
    basic_username: str | None = None
    basic_password: SecretStr | None = None
    jwt_secret: SecretStr | None = None
    jwt_audience: str | None = None
    allowed_networks: list[str] = Field(default_factory=list)
    # Which partner's status API confirms the payments this channel brings (see docs/confirmations.md). Unset:
    # the partner of the channel's own name.
    confirmed_by: str | None = None
    # Identifier names the biller accepts and what each one means. Names mapped to "name" are a check only: they
    # never identify a customer on their own. Compared ignoring case (domain/billing/identifiers.py).
    identifier_keys: dict[str, str] = Field(
        default_factory=lambda: {
            "customerid": "customer_id",
            "consumerid": "customer_id",
            "loanaccountnumber": "loan_account_number",
            "loannumber": "loan_account_number",
            "mobile": "mobile",
            "mobilenumber": "mobile",
            "phonenumber": "mobile",
            "name": "name",
        }
    )

    @field_validator("*", mode="before")
    @classmethod
    def _empty_means_unset(cls, value: object) -> object:
        # `BILLER_KALEIDOFIN_API_KEY=` in a .env file is no key at all, never an empty key.
        return None if value == "" else value

    @field_validator("allowed_networks")
    @classmethod
    def _networks_are_cidrs(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)
        return value

    @field_validator("confirmed_by")
    @classmethod
    def _confirmed_by_a_known_partner(cls, value: str | None) -> str | None:
        if value is not None and value.lower() not in PARTNERS:
            raise ValueError(f"{value!r} is not a partner with a status client; expected one of {list(PARTNERS)}")
        return None if value is None else value.lower()

    @field_validator("identifier_keys")
    @classmethod
    def _identifier_keys_are_known(cls, value: dict[str, str]) -> dict[str, str]:
        # Kept as written: the channel compares names ignoring case (and Digiledge spaces) when a request comes in.
        for key, meaning in value.items():
            if meaning not in IDENTIFIER_MEANINGS:
                raise ValueError(
                    f"identifier key {key!r} maps to {meaning!r}; expected one of {sorted(IDENTIFIER_MEANINGS)}"
                )
        return value

    @classmethod
    def variable_keys(cls) -> dict[str, str]:
        """Each field by the name its variable ends with (``BILLER_<CHANNEL>_<key>``): its alias, or its own name."""
        return {field.alias or name: name for name, field in cls.model_fields.items()}


class KaleidofinSettings(ChannelSettings):
    """Kaleidofin (inbound): /bills/fetchBills and /bills/fetchReceipt."""

    max_identifiers: int = Field(default=10, ge=1)


class DigiledgeSettings(ChannelSettings):
    """Digiledge (inbound): the BOU's payment notification and biller protocol requests."""

    path_prefix: str = "/digiledge"
    # Where the biller posts its responses (BillFetchResponse, BillPaymentResponse, ...): the BOU's base URL.
    bou_base_url: str | None = None
    # customerParams names the biller accepts (case and spaces ignored) and what each one means, as for Kaleidofin.
    identifier_keys: dict[str, str] = Field(
        alias="customer_params",
        default_factory=lambda: {
            "customerid": "customer_id",
            "consumerid": "customer_id",
            "loanaccountnumber": "loan_account_number",
            "loannumber": "loan_account_number",
            "mobile": "mobile",
            "mobilenumber": "mobile",
            "registeredmobilenumber": "mobile",
            "name": "name",
            "customername": "name",
        },
    )
    # tenantId sent back when the request carried none (Digiledge's payment and status requests show none).
    tenant_id: str | None = None
    # The unit of every amount Digiledge sends and we send it (docs/channels/digiledge.md, "Amounts").
    amount_unit: DigiledgeAmountUnit = DigiledgeAmountUnit.RUPEES


class SetuSettings(ChannelSettings):
    """Setu BillCollect (inbound): {path_prefix}/bills/fetch, /customer/validate, /bills/fetchReceipt and
    /notifications (docs/channels/setu.md). JWT is the advised scheme; the Setu *client*'s variables
    (BILLER_SETU_PAYMENT_STATUS_URL and the like) are other settings of the same prefix."""

    path_prefix: str = "/setu"
    max_identifiers: int = Field(default=10, ge=1)
    # Validate-and-pay (setu-validate-pay.mdx): off unless the lender's Setu biller is configured for it.
    validate_pay_enabled: bool = False
    validate_pay_bill_name: str = Field(default="Ad-hoc payment", min_length=1, max_length=100)
    # A settlement names every bill it settles: its endpoint alone takes bodies above BILLER_MAX_REQUEST_BYTES.
    notification_max_bytes: int = Field(default=1024 * 1024, ge=1024)

    @field_validator("path_prefix")
    @classmethod
    def _prefix_is_a_path(cls, value: str) -> str:
        if not value.startswith("/") or value.rstrip("/") in ("", "/bills", "/digiledge") or " " in value:
            raise ValueError("expected a path such as /setu, not / and not another channel's prefix")
        return value.rstrip("/")


# Served when BILLER_CHANNELS is unset. Setu is served only when BILLER_CHANNELS names it: a lender who does not
# use Setu must not need its secrets to start in production (docs/channels/setu.md, "Turning the channel on").
DEFAULT_CHANNELS = ("kaleidofin", "digiledge")


class Settings(BaseSettings):
    # A channel's variables are its field's: BILLER_KALEIDOFIN_API_KEY is kaleidofin.api_key (split once, after
    # the channel's name, so field names keep their underscores).
    model_config = SettingsConfigDict(
        env_prefix="BILLER_",
        extra="ignore",
        case_sensitive=False,
        env_nested_delimiter="_",
        env_nested_max_split=1,
    )

    env: Environment = Environment.DEVELOPMENT
    # The inbound channels this biller serves (BILLER_CHANNELS=kaleidofin, comma-separated): a channel that is
    # off has no routes and no OpenAPI entry, and production asks nothing of it. Unset: DEFAULT_CHANNELS.
    # (Its field is not called ``channels``: that is the method giving every channel's settings.)
    channels_enabled: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_CHANNELS),
        validation_alias=AliasChoices("BILLER_CHANNELS", "channels"),
    )
    instance_dir: Path = DEFAULT_INSTANCE_DIR
    database_url: str | None = None
    database_pool_size: int = Field(default=10, ge=1)
    database_pool_timeout_seconds: float = Field(default=2.0, gt=0)
    database_statement_timeout_ms: int = Field(default=10_000, ge=0)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    # How long each write transaction of `bills upload` aims to take: partners' calls wait at most about this.
    bill_upload_transaction_ms: int = Field(default=100, ge=1, le=10_000)

    # Signed requests (auth scheme jwt): how old a token may be, and how far ahead of our clock it may claim to be.
    jwt_max_age_seconds: int = Field(default=120, ge=1)
    jwt_clock_skew_seconds: int = Field(default=5, ge=0)
    log_level: str = "INFO"
    max_request_bytes: int = Field(default=64 * 1024, ge=1024)
    # A payment above this many times the amount due on its bill is refused, unless the bill's max amount allows it
    # (every channel: biller_server/domain/payments/recording.py).
    max_payment_multiple: int = Field(default=10, ge=1)
    # How long a client may take to send a request's headers, then its body, under serve (408 after that).
    request_header_timeout_seconds: float = Field(default=10.0, gt=0)
    request_body_timeout_seconds: float = Field(default=10.0, gt=0)
    trust_forwarded_for: bool = False

    # The inbound channels (ChannelSettings above), one field each.
    kaleidofin: KaleidofinSettings = Field(default_factory=KaleidofinSettings)
    digiledge: DigiledgeSettings = Field(default_factory=DigiledgeSettings)
    setu: SetuSettings = Field(default_factory=SetuSettings)

    # Outbound calls to partners (docs/confirmations.md). URLs and credentials are needed only for the partners a
    # channel is confirmed by (and Kaleidofin's payment and status URLs only for offline payments).
    partner_connect_timeout_seconds: float = Field(default=3.05, gt=0)
    partner_read_timeout_seconds: float = Field(default=10.0, gt=0)
    partner_token_refresh_margin_seconds: float = Field(default=60.0, ge=0)
    kaleidofin_status_url: str | None = None
    kaleidofin_payment_url: str | None = None
    kaleidofin_fetch_bills_url: str | None = None
    kaleidofin_biller_id: str | None = None
    kaleidofin_outbound_api_key: SecretStr | None = None
    kaleidofin_outbound_api_key_header: str = "X-API-Key"
    digiledge_payment_status_url: str | None = None
    digiledge_biller_id: str | None = None
    digiledge_outbound_api_key: SecretStr | None = None
    digiledge_outbound_api_key_header: str = "X-API-Key"
    payu_base_url: str | None = None
    payu_token_url: str | None = None
    payu_client_id: str | None = None
    payu_client_secret: SecretStr | None = None
    cashfree_base_url: str | None = None
    cashfree_client_id: str | None = None
    cashfree_client_secret: SecretStr | None = None
    setu_payment_status_url: str | None = None
    setu_token_url: str | None = None
    setu_client_id: str | None = None
    setu_client_secret: SecretStr | None = None
    setu_product_instance_id: str | None = None

    # The confirmation worker (biller-server worker; serve runs one beside the API).
    worker_concurrency: int = Field(default=1, ge=1, le=64)
    worker_poll_interval_seconds: float = Field(default=1.0, gt=0)
    # How long a claimed job stays a worker's: longer than the slowest call it can make (a token fetch, a call,
    # and once more after a 401), so a live worker never loses its job to another.
    worker_lease_seconds: float = Field(default=120.0, gt=0)
    # A worker that has not polled the queue for this long is stale: /readyz, `biller-server status`.
    worker_stale_seconds: float = Field(default=120.0, gt=0)

    # Operations (docs/operations.md): the lender's webhook for payments reaching a final state, and /metrics.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    metrics_token: SecretStr | None = None
    # The source commit this build was made from, shown on / and in biller_build_info (the Docker image sets it).
    build_commit: str | None = None

    # The operations console (docs/console.md): off unless enabled; production needs its secret key.
    console_enabled: bool = False
    console_secret_key: SecretStr | None = None
    console_lockout_threshold: int = Field(default=5, ge=1)
    console_lockout_minutes: int = Field(default=15, ge=1)
    console_session_idle_minutes: int = Field(default=30, ge=1)
    console_session_max_hours: int = Field(default=12, ge=1)
    # The console's bill upload: its own body cap (the partner paths keep max_request_bytes) and time to send it.
    console_upload_max_bytes: int = Field(default=50 * 1024 * 1024, ge=64 * 1024)
    console_upload_timeout_seconds: float = Field(default=300.0, gt=0)

    # Settlement reconciliation (docs/reconciliation.md): days after which a confirmed payment no partner settled
    # is a break.
    settlement_expected_within_days: int = Field(default=3, ge=1, le=60)

    @field_validator("*", mode="before")
    @classmethod
    def _empty_means_unset(cls, value: object) -> object:
        return None if value == "" else value  # as for a channel's variables (ChannelSettings)

    @field_validator("database_url")
    @classmethod
    def _a_database_we_can_open(cls, value: str | None) -> str | None:
        """A misspelt URL is one line at start (never the engine's traceback later). The URL itself is not
        repeated: it may hold a password."""
        if value is None:
            return value
        example = "e.g. sqlite:///instance/biller.sqlite3 or postgresql://biller@db.example/biller"
        try:
            backend = make_url(value).get_backend_name()
        except sa_exc.ArgumentError:
            raise ValueError(f"expected a database URL: {example}") from None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"expected a sqlite or postgresql URL, not {backend!r}: {example}")
        return value

    @field_validator("channels_enabled", mode="before")
    @classmethod
    def _channels_by_name(cls, value: object) -> object:
        if value is None:
            return list(DEFAULT_CHANNELS)
        names = value.split(",") if isinstance(value, str) else value
        if not isinstance(names, list | tuple):
            return value
        chosen = [str(name).strip().lower() for name in names if str(name).strip()]
        unknown = [name for name in chosen if name not in cls.channel_names()]
        if unknown:
            raise ValueError(
                f"unknown channel {', '.join(unknown)}; "
                f"expected a comma-separated list of {', '.join(cls.channel_names())}"
            )
        if not chosen:
            raise ValueError(f"no channel named; expected a comma-separated list of {', '.join(cls.channel_names())}")
        return list(dict.fromkeys(chosen))

    @model_validator(mode="before")
    @classmethod
    def _channel_variables_by_flat_name(cls, data: Any) -> Any:
        """Take ``kaleidofin_api_key=...`` (a keyword override, as tests give them) as ``kaleidofin.api_key``."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for channel, model in cls.channel_models().items():
            for key in model.variable_keys():
                flat = f"{channel}_{key}"
                if flat in data:
                    values = data.get(channel) or {}
                    if isinstance(values, BaseModel):
                        values = values.model_dump(by_alias=True)
                    data[channel] = {**values, key: data.pop(flat)}
        return data

    @model_validator(mode="after")
    def _channels_confirmed_by_their_own_partner_by_default(self) -> Settings:
        for channel, settings in self.channels().items():
            if settings.confirmed_by is None and channel in PARTNERS:
                settings.confirmed_by = channel
            elif settings.confirmed_by is None and channel in self.channels_enabled:
                raise ValueError(f"set BILLER_{channel.upper()}_CONFIRMED_BY: {channel!r} has no status client")
        return self

    @classmethod
    def channel_models(cls) -> dict[str, type[ChannelSettings]]:
        """The inbound channels, by name, with the model of their settings."""
        return {
            name: field.annotation
            for name, field in cls.model_fields.items()
            if isinstance(field.annotation, type) and issubclass(field.annotation, ChannelSettings)
        }

    @classmethod
    def channel_names(cls) -> tuple[str, ...]:
        return tuple(cls.channel_models())

    @classmethod
    def variable_names(cls) -> list[str]:
        """Every setting by its variable's name without ``BILLER_``, lower case (``kaleidofin_api_key``)."""
        channels = cls.channel_models()
        names: list[str] = []
        for name in cls.model_fields:
            if name in channels:
                names += [f"{name}_{key}" for key in channels[name].variable_keys()]
            else:
                names.append(_VARIABLE_OF_FIELD.get(name, name))
        return names

    def channels(self) -> dict[str, ChannelSettings]:
        """Every channel's settings, enabled or not (a disabled channel's are still read and checked for type)."""
        return {name: getattr(self, name) for name in self.channel_names()}

    def enabled_channels(self) -> dict[str, ChannelSettings]:
        """The channels BILLER_CHANNELS turns on, in the order of ``channel_names()``."""
        return {name: settings for name, settings in self.channels().items() if name in self.channels_enabled}

    def unconfigured_confirmers(self) -> dict[str, tuple[list[str], list[str]]]:
        """Partners that confirm an enabled channel's payments but lack settings their client needs, each with the
        channels they confirm and the missing variables: such payments can never be confirmed (production refuses
        to start; development and test are warned, once per partner)."""
        found: dict[str, tuple[list[str], list[str]]] = {}
        for channel, settings in self.enabled_channels().items():
            partner = settings.confirmed_by or ""
            missing = [name for name in PARTNER_CLIENT_SETTINGS.get(partner, []) if self.value(name) is None]
            if missing:
                channels, _ = found.setdefault(partner, ([], [f"BILLER_{name.upper()}" for name in missing]))
                channels.append(channel)
        return found

    def value(self, name: str) -> object:
        """A setting's value by its variable's name (``kaleidofin_api_key``), a channel's too."""
        for channel, settings in self.channels().items():
            if name.startswith(f"{channel}_"):
                field_name = settings.variable_keys().get(name.removeprefix(f"{channel}_"))
                if field_name is not None:
                    return getattr(settings, field_name)
        name = _FIELD_OF_VARIABLE.get(name, name)
        if name not in type(self).model_fields:
            raise KeyError(name)
        return getattr(self, name)

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.instance_dir / 'biller.sqlite3').resolve()}"

    def secret(self, name: str) -> str | None:
        """Return a secret's value by its variable's name, falling back to the development placeholder outside
        production."""
        value = self.value(name)
        if value is not None:
            return value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        if not self.is_production:
            return development_secret(name)
        return None

    def secret_values(self) -> list[str]:
        """The value of every secret setting in effect (development placeholders included), for redaction: what
        is stored or logged never carries one, wherever it appears (a header under another name, a body)."""
        values = []
        for name in self.variable_names():
            if isinstance(self.value(name), SecretStr) or development_secret(name) is not None:
                value = self.secret(name)
                if value:
                    values.append(value)
        return list(dict.fromkeys(values))

    def check_production(self) -> None:
        """Refuse to start in production without the partner secrets the configured schemes need."""
        if not self.is_production:
            return
        missing = [f"BILLER_{name.upper()}" for name in self._required_secrets() if self.value(name) is None]
        if missing:
            raise MissingSettingError(
                f"BILLER_ENV=production with BILLER_CHANNELS={','.join(self.channels_enabled)} needs these "
                "variables, which are not set: " + ", ".join(missing)
            )
        if "fake" in self._confirming_partners():
            raise MissingSettingError("BILLER_ENV=production cannot confirm payments with the 'fake' partner client")
        self._check_console()

    def _check_console(self) -> None:
        # The key signs the console's session cookies: a guessable one lets anyone forge a staff sign-in.
        if not self.console_enabled:
            return
        key = self.console_secret_key.get_secret_value() if self.console_secret_key else ""
        if len(key) < CONSOLE_SECRET_KEY_MIN_LENGTH:
            raise MissingSettingError(
                "BILLER_ENV=production with BILLER_CONSOLE_ENABLED needs BILLER_CONSOLE_SECRET_KEY, at least "
                f"{CONSOLE_SECRET_KEY_MIN_LENGTH} characters (e.g. `openssl rand -hex 32`)"
            )

    def _confirming_partners(self) -> set[str]:
        return {settings.confirmed_by for settings in self.enabled_channels().values() if settings.confirmed_by}

    def _required_secrets(self) -> list[str]:
        required: list[str] = []
        for channel, settings in self.enabled_channels().items():
            if settings.auth_scheme is ChannelAuthScheme.API_KEY:
                required.append(f"{channel}_api_key")
            elif settings.auth_scheme is ChannelAuthScheme.JWT:
                required += [f"{channel}_jwt_secret", f"{channel}_jwt_audience"]
            else:
                required += [f"{channel}_basic_username", f"{channel}_basic_password"]
        for partner in sorted(self._confirming_partners()):
            required += PARTNER_CLIENT_SETTINGS.get(partner, [])
        if self.webhook_url is not None:
            required.append("webhook_secret")  # events are never sent unsigned: without it they would only queue
        return required


CONSOLE_SECRET_KEY_MIN_LENGTH = 32

# What each partner's outbound client needs, required in production only when a channel is confirmed by it.
PARTNER_CLIENT_SETTINGS: dict[str, list[str]] = {
    "kaleidofin": ["kaleidofin_status_url"],
    "digiledge": ["digiledge_payment_status_url", "digiledge_biller_id"],
    "payu": ["payu_base_url", "payu_token_url", "payu_client_id", "payu_client_secret"],
    "cashfree": ["cashfree_base_url", "cashfree_client_id", "cashfree_client_secret"],
    "setu": ["setu_token_url", "setu_client_id", "setu_client_secret", "setu_product_instance_id"],
}


# Fields whose variable has another name than the field (a field cannot share its name with a method).
_VARIABLE_OF_FIELD = {"channels_enabled": "channels"}
_FIELD_OF_VARIABLE = {variable: field for field, variable in _VARIABLE_OF_FIELD.items()}

# BILLER_ variables that are not settings: the test suite's and the compose file's own.
NOT_SETTINGS = frozenset({"BILLER_TEST_POSTGRES_URL", "BILLER_ENV_FILE", "BILLER_IMAGE_TAG", "BILLER_PUBLISH"})


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment; keyword overrides win (tests use them).

    A value that does not fit raises ``SettingsError``, one line per variable (``BILLER_ENV='prod': expected one of
    development, test, production``), never pydantic's report with its internal field names.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError([_error_line(error) for error in exc.errors()]) from None
    except pydantic_settings.SettingsError as exc:
        # A list or map variable that is not JSON: pydantic-settings names only the field it belongs to.
        raise SettingsError(_json_problems(os.environ) or [str(exc)]) from None


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """``BILLER_`` variables in ``environ`` that are no setting: a typo, usually (``BILLER_KALEDOFIN_API_KEY``)."""
    known = {f"BILLER_{name.upper()}" for name in Settings.variable_names()} | NOT_SETTINGS
    return sorted(name for name in environ if name.upper().startswith("BILLER_") and name.upper() not in known)


_SECRET_WORDS = ("key", "secret", "password", "token")
# What a variable accepts, by pydantic's error type (its own message for the rest).
_ACCEPTS = {
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_parsing": "expected a number",
    "bool_parsing": "expected true or false",
    "json_invalid": "expected JSON",
    "list_type": "expected a JSON list",
    "dict_type": "expected a JSON object",
    "string_type": "expected text",
}


def _json_problems(environ: Mapping[str, str]) -> list[str]:
    """The list and map variables in ``environ`` whose value is not JSON, one line each."""
    lines = []
    upper = {name.upper(): value for name, value in environ.items()}
    for channel, model in Settings.channel_models().items():
        for key, field_name in model.variable_keys().items():
            variable = f"BILLER_{channel}_{key}".upper()
            kind = typing.get_origin(model.model_fields[field_name].annotation)
            if kind not in (list, dict) or not upper.get(variable):
                continue
            try:
                json.loads(upper[variable])
            except ValueError:
                example = '["10.20.0.0/16"]' if kind is list else '{"customerId": "customer_id"}'
                lines.append(f"{variable}={upper[variable][:60]!r}: expected JSON, e.g. {example}")
    return lines


def _error_line(error: Any) -> str:
    """One line for one of pydantic's errors: the variable, the value given (never a secret's), what it accepts."""
    location = [str(part).lower().removeprefix("biller_") for part in error.get("loc", ())]
    if location and location[0] in Settings.channel_names() and len(location) > 1:
        location = [f"{location[0]}_{location[1]}"]
    location = [_VARIABLE_OF_FIELD.get(part, part) for part in location]
    variable = f"BILLER_{location[0].upper()}" if location else "settings"
    context = error.get("ctx") or {}
    kind = error.get("type", "")
    if kind == "enum":
        accepts = f"expected one of {context.get('expected', '').replace(' or ', ', ').replace(chr(39), '')}"
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {"greater_than_equal": "at least", "greater_than": "more than", "less_than_equal": "at most"}
        limit = next(iter(context.values()), "")
        accepts = f"expected a number {words.get(kind, 'less than')} {limit}"
    elif kind == "value_error":
        accepts = str(context.get("error") or error.get("msg", ""))
    else:
        accepts = _ACCEPTS.get(kind) or str(error.get("msg", "")).removeprefix("Value error, ")
    given = error.get("input")
    # A URL may carry a password (postgresql://user:password@host/db): its value is never repeated either.
    secret = any(word in variable.lower() for word in _SECRET_WORDS) or variable.endswith("_URL")
    shown = "" if secret or not isinstance(given, str | int | float) else f"={str(given)[:60]!r}"
    return f"{variable}{shown}: {accepts}"
