"""Which client talks to which partner, built from the settings. The engine asks by name (``Job.partner``).

``CLIENT_FACTORIES`` is the whole registry, one line per partner: the partners a channel may be confirmed by
(``biller_server.config.PARTNERS``, the one list of their names) and the lender's webhook, which only receives
deliveries. A factory builds the client from the settings; settings it lacks are reported when it is first used.
"""

from __future__ import annotations

from collections.abc import Callable

from biller_server.clients.base import PartnerClient, PartnerNotConfigured
from biller_server.clients.cashfree import CashfreeClient
from biller_server.clients.digiledge import DigiledgeClient
from biller_server.clients.fake import FakePartnerClient
from biller_server.clients.http import PartnerHttp, Timeouts
from biller_server.clients.kaleidofin import KaleidofinClient
from biller_server.clients.payu import PayUClient
from biller_server.clients.setu import SetuClient
from biller_server.clients.webhook import WebhookClient
from biller_server.config import Settings

ClientFactory = Callable[[Settings, Timeouts], PartnerClient]


def _secret(value: object) -> str | None:
    return None if value is None else value.get_secret_value()  # type: ignore[attr-defined]


def _kaleidofin(settings: Settings, timeouts: Timeouts) -> PartnerClient:
    return KaleidofinClient(
        status_url=settings.kaleidofin_status_url,
        payment_url=settings.kaleidofin_payment_url,
        fetch_bills_url=settings.kaleidofin_fetch_bills_url,
        biller_id=settings.kaleidofin_biller_id,
        api_key=_secret(settings.kaleidofin_outbound_api_key),
        api_key_header=settings.kaleidofin_outbound_api_key_header,
        timeouts=timeouts,
    )


def _digiledge(settings: Settings, timeouts: Timeouts) -> PartnerClient:
    return DigiledgeClient(
        payment_status_url=settings.digiledge_payment_status_url,
        biller_id=settings.digiledge_biller_id,
        bou_base_url=settings.digiledge.bou_base_url,
        api_key=_secret(settings.digiledge_outbound_api_key),
        api_key_header=settings.digiledge_outbound_api_key_header,
        timeouts=timeouts,
    )


def _payu(settings: Settings, timeouts: Timeouts) -> PartnerClient:
    return PayUClient(
        base_url=settings.payu_base_url,
        token_url=settings.payu_token_url,
        client_id=settings.payu_client_id,
        client_secret=_secret(settings.payu_client_secret),
        timeouts=timeouts,
        token_refresh_margin_seconds=settings.partner_token_refresh_margin_seconds,
    )


def _cashfree(settings: Settings, timeouts: Timeouts) -> PartnerClient:
    return CashfreeClient(
        base_url=settings.cashfree_base_url,
        client_id=settings.cashfree_client_id,
        client_secret=_secret(settings.cashfree_client_secret),
        timeouts=timeouts,
    )


def _setu(settings: Settings, timeouts: Timeouts) -> PartnerClient:
    return SetuClient(
        payment_status_url=settings.setu_payment_status_url,
        token_url=settings.setu_token_url,
        client_id=settings.setu_client_id,
        client_secret=_secret(settings.setu_client_secret),
        product_instance_id=settings.setu_product_instance_id,
        timeouts=timeouts,
        token_refresh_margin_seconds=settings.partner_token_refresh_margin_seconds,
    )


def _webhook(settings: Settings, timeouts: Timeouts) -> PartnerClient:
    return WebhookClient(  # type: ignore[return-value]  # a deliverer, not a status client
        url=settings.webhook_url, secret=_secret(settings.webhook_secret), timeouts=timeouts
    )


def _fake(settings: Settings, timeouts: Timeouts) -> PartnerClient:
    return FakePartnerClient()


# Partner name (Job.partner) -> how its client is built. A test checks the names against config's PARTNERS.
CLIENT_FACTORIES: dict[str, ClientFactory] = {
    "kaleidofin": _kaleidofin,
    "digiledge": _digiledge,
    "payu": _payu,
    "cashfree": _cashfree,
    "setu": _setu,
    "webhook": _webhook,
    "fake": _fake,
}


def build_client(name: str, settings: Settings) -> PartnerClient:
    """Build the named partner's client; settings it lacks are reported when it is first used."""
    factory = CLIENT_FACTORIES.get(name)
    if factory is None:
        raise PartnerNotConfigured(f"no client for partner {name!r} (known: {', '.join(CLIENT_FACTORIES)})")
    timeouts = Timeouts(settings.partner_connect_timeout_seconds, settings.partner_read_timeout_seconds)
    client = factory(settings, timeouts)
    http = getattr(client, "http", None)
    if isinstance(http, PartnerHttp):
        http.redact_also(settings.secret_values())
    return client


class PartnerClients:
    """The clients of one worker thread, built on first use and closed together."""

    def __init__(self, settings: Settings | None = None, clients: dict[str, PartnerClient] | None = None) -> None:
        self._settings = settings
        self._clients: dict[str, PartnerClient] = dict(clients or {})

    def get(self, name: str) -> PartnerClient:
        if name not in self._clients:
            if self._settings is None:
                raise PartnerNotConfigured(f"no client for partner {name!r}")
            self._clients[name] = build_client(name, self._settings)
        return self._clients[name]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
