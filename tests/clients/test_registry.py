"""The registry: one factory per partner a job can name, and the names are config's one list."""

import pytest
from biller_server.config import PARTNERS, load_settings
from biller_server.config.settings import PARTNER_CLIENT_SETTINGS

from biller_server.clients.base import PartnerNotConfigured
from biller_server.clients.registry import CLIENT_FACTORIES, PartnerClients, build_client
from tests.fakes.fixtures import payment_context
from tests.fakes.server import Reply


def test_every_partner_a_channel_may_be_confirmed_by_has_a_client_and_the_webhook_one_too():
    assert set(CLIENT_FACTORIES) == {*PARTNERS, "webhook"}


@pytest.mark.parametrize("name", sorted(CLIENT_FACTORIES))
def test_each_factory_builds_that_partners_client(name):
    client = build_client(name, load_settings(env="test"))
    try:
        assert client.name == name
    finally:
        client.close()


def test_an_unknown_partner_has_no_client():
    with pytest.raises(PartnerNotConfigured, match="no client for partner 'nobody'"):
        PartnerClients(load_settings(env="test")).get("nobody")


def test_the_settings_each_client_needs_in_production_name_known_partners_and_settings():
    assert set(PARTNER_CLIENT_SETTINGS) <= set(PARTNERS)
    variables = set(load_settings().variable_names())
    assert {name for names in PARTNER_CLIENT_SETTINGS.values() for name in names} <= variables


def test_every_configured_secret_is_redacted_in_what_a_client_records(fake_partner):
    """A partner echoing another channel's key (or our webhook secret) in its answer: kept out of outbound_calls."""
    settings = load_settings(
        env="test",
        kaleidofin_status_url=f"{fake_partner.url}/status",
        kaleidofin_api_key="inbound-kaleidofin-key-42",
        webhook_secret="webhook-signing-secret-42",
    )
    echoed = {"message": "not found: inbound-kaleidofin-key-42 / webhook-signing-secret-42 / dev-digiledge-key"}
    fake_partner.reply("GET", "/status/15", Reply(status=404, body=echoed))
    client = build_client("kaleidofin", settings)
    calls = []
    try:
        client.check_payment(payment_context(partner_bill_ref="15"), calls=calls)
    finally:
        client.close()

    [call] = calls
    assert call.response_body is not None and "not found" in call.response_body
    for secret in ("inbound-kaleidofin-key-42", "webhook-signing-secret-42", "dev-digiledge-key"):
        assert secret not in call.response_body
    assert call.response_body.count("[REDACTED]") == 3
