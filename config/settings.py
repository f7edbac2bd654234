"""Every setting of biller-server, its type and its default.

Settings are read from the environment once, at start-up, with the prefix ``BILLER_`` (``BILLER_DATABASE_URL``
sets ``database_url``; each channel has flat variables such as ``BILLER_KALEIDOFIN_API_KEY``; lists and maps
are JSON). ``config/README.md`` documents each variable; a test checks that it names every field declared here.
"""

from __future__ import annotations

import enum
import ipaddress
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ChannelAuthScheme(enum.StrEnum):
    API_KEY = "api_key"
    BASIC = "basic"
    JWT = "jwt"  # Setu's scheme: an HS256 bearer token per request, with aud, iat and a unique jti


class MissingSettingError(RuntimeError):
    """A setting that production needs has no value."""


DEFAULT_INSTANCE_DIR = Path("instance")

# Placeholders used only in development and test, so that a fresh checkout runs without set-up. A production
# start refuses them (see Settings.check_production).
DEVELOPMENT_SECRETS = {
    "kaleidofin_api_key": "dev-kaleidofin-key",
    "digiledge_api_key": "dev-digiledge-key",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLER_", extra="ignore", case_sensitive=False)

    env: Environment = Environment.DEVELOPMENT
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
    trust_forwarded_for: bool = False

    # Kaleidofin channel (inbound): /bills/fetchBills and /bills/fetchReceipt.
    kaleidofin_auth_scheme: ChannelAuthScheme = ChannelAuthScheme.API_KEY
    kaleidofin_api_key_header: str = "X-API-Key"
    kaleidofin_api_key: SecretStr | None = None
    kaleidofin_previous_api_key: SecretStr | None = None
    kaleidofin_basic_username: str | None = None
    kaleidofin_basic_password: SecretStr | None = None
    kaleidofin_jwt_secret: SecretStr | None = None
    kaleidofin_jwt_audience: str | None = None
    kaleidofin_allowed_networks: list[str] = Field(default_factory=list)
    kaleidofin_max_identifiers: int = Field(default=10, ge=1)
    # Which partner's status API confirms the payments this channel brings (see docs/confirmations.md).
    kaleidofin_confirmed_by: str = "kaleidofin"
    # Identifier keys the biller accepts (case-insensitive) and what each one means. Keys mapped to "name" are
    # a check only: they never identify a customer on their own.
    kaleidofin_identifier_keys: dict[str, str] = Field(
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

    # Digiledge channel (inbound).
    digiledge_auth_scheme: ChannelAuthScheme = ChannelAuthScheme.API_KEY
    digiledge_api_key_header: str = "X-API-Key"
    digiledge_api_key: SecretStr | None = None
    digiledge_previous_api_key: SecretStr | None = None
    digiledge_basic_username: str | None = None
    digiledge_basic_password: SecretStr | None = None
    digiledge_jwt_secret: SecretStr | None = None
    digiledge_jwt_audience: str | None = None
    digiledge_allowed_networks: list[str] = Field(default_factory=list)
    digiledge_path_prefix: str = "/digiledge"
    # Which partner's status API confirms the payments Digiledge brings (see docs/confirmations.md).
    digiledge_confirmed_by: str = "digiledge"
    # Where the biller posts its responses (BillFetchResponse, BillPaymentResponse, ...): the BOU's base URL.
    digiledge_bou_base_url: str | None = None
    # customerParams names the biller accepts (case and spaces ignored) and what each one means, as for Kaleidofin.
    digiledge_customer_params: dict[str, str] = Field(
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
        }
    )
    # tenantId sent back when the request carried none (Digiledge's payment and status requests show none).
    digiledge_tenant_id: str | None = None

    # Outbound calls to partners (docs/confirmations.md). URLs and credentials are needed only for the partners a
    # channel is confirmed by (and Kaleidofin's payment and fetch URLs only for offline payments).
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

    # Operations (docs/operations.md): the lender's webhook for payments reaching a final state, and /metrics.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    metrics_token: SecretStr | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _empty_means_unset(cls, value: object) -> object:
        # `BILLER_KALEIDOFIN_API_KEY=` in a .env file is no key at all, never an empty key.
        return None if value == "" else value

    @field_validator("kaleidofin_allowed_networks", "digiledge_allowed_networks")
    @classmethod
    def _networks_are_cidrs(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)
        return value

    @field_validator("kaleidofin_confirmed_by", "digiledge_confirmed_by")
    @classmethod
    def _confirmed_by_a_known_partner(cls, value: str) -> str:
        known = ("kaleidofin", "digiledge", "payu", "cashfree", "setu", "fake")
        if value.lower() not in known:
            raise ValueError(f"{value!r} is not a partner with a status client; expected one of {list(known)}")
        return value.lower()

    @field_validator("kaleidofin_identifier_keys")
    @classmethod
    def _identifier_keys_are_known(cls, value: dict[str, str]) -> dict[str, str]:
        allowed = {"customer_id", "loan_account_number", "mobile", "name"}
        for key, meaning in value.items():
            if meaning not in allowed:
                raise ValueError(f"identifier key {key!r} maps to {meaning!r}; expected one of {sorted(allowed)}")
        return {key.lower(): meaning for key, meaning in value.items()}

    @field_validator("digiledge_customer_params")
    @classmethod
    def _customer_params_are_known(cls, value: dict[str, str]) -> dict[str, str]:
        # Matched ignoring case and spaces: NPCI registers names such as "Loan Account Number".
        cls._identifier_keys_are_known(value)
        return {"".join(key.split()).lower(): meaning for key, meaning in value.items()}

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.instance_dir / 'biller.sqlite3').resolve()}"

    def secret(self, name: str) -> str | None:
        """Return a secret's value, falling back to the development placeholder outside production."""
        value = getattr(self, name)
        if value is not None:
            return value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        if not self.is_production:
            return DEVELOPMENT_SECRETS.get(name)
        return None

    def check_production(self) -> None:
        """Refuse to start in production without the partner secrets the configured schemes need."""
        if not self.is_production:
            return
        missing = [f"BILLER_{name.upper()}" for name in self._required_secrets() if getattr(self, name) is None]
        if missing:
            raise MissingSettingError(
                "BILLER_ENV=production needs these variables, which are not set: " + ", ".join(missing)
            )
        if "fake" in (self.kaleidofin_confirmed_by, self.digiledge_confirmed_by):
            raise MissingSettingError("BILLER_ENV=production cannot confirm payments with the 'fake' partner client")

    def _required_secrets(self) -> list[str]:
        required: list[str] = []
        for channel in ("kaleidofin", "digiledge"):
            scheme = getattr(self, f"{channel}_auth_scheme")
            if scheme is ChannelAuthScheme.API_KEY:
                required.append(f"{channel}_api_key")
            elif scheme is ChannelAuthScheme.JWT:
                required += [f"{channel}_jwt_secret", f"{channel}_jwt_audience"]
            else:
                required += [f"{channel}_basic_username", f"{channel}_basic_password"]
        for partner in sorted({self.kaleidofin_confirmed_by, self.digiledge_confirmed_by}):
            required += PARTNER_CLIENT_SETTINGS.get(partner, [])
        if self.webhook_url is not None:
            required.append("webhook_secret")  # events are never sent unsigned: without it they would only queue
        return required


# What each partner's outbound client needs, required in production only when a channel is confirmed by it.
PARTNER_CLIENT_SETTINGS: dict[str, list[str]] = {
    "kaleidofin": ["kaleidofin_status_url"],
    "digiledge": ["digiledge_payment_status_url", "digiledge_biller_id"],
    "payu": ["payu_base_url", "payu_token_url", "payu_client_id", "payu_client_secret"],
    "cashfree": ["cashfree_base_url", "cashfree_client_id", "cashfree_client_secret"],
    "setu": ["setu_payment_status_url", "setu_token_url", "setu_client_id", "setu_client_secret"],
}


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment; keyword overrides win (tests use them)."""
    return Settings(**overrides)  # type: ignore[arg-type]
