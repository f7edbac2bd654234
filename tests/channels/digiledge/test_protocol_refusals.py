"""Every refusal of the four protocol endpoints is an acknowledgement ``{reason, code, status}`` with the HTTP
status as its code, and writes nothing but the inbound log."""

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from biller_server.channels.digiledge import protocol as digiledge_protocol
from biller_server.persistence.models import Base, InboundMessage
from tests.channels.digiledge.protocol import assert_ack, fetch_body, payment_body, status_body

ENDPOINTS = [
    ("/digiledge/fetch", fetch_body(), "receive_bill_fetch"),
    ("/digiledge/validation", fetch_body(), "receive_bill_validation"),
    ("/digiledge/payment", payment_body(), "receive_bill_payment"),
    ("/digiledge/TxnStatus402", status_body(), "receive_txn_status"),
]
IDS = [path.rsplit("/", 1)[1] for path, _, _ in ENDPOINTS]


@pytest.fixture
def settings_overrides():
    # A TxnStatus402 request carries no tenantId; this payment has no requests in the log to take one from.
    return {"digiledge_tenant_id": "OU42"}


def written_rows(session):
    return {
        table.name: session.scalar(sa.select(sa.func.count()).select_from(table))
        for table in Base.metadata.sorted_tables
        if table.name != "inbound_messages"
    }


@pytest.fixture
def nothing_written(session):
    before = written_rows(session)
    yield
    assert written_rows(session) == before


@pytest.mark.parametrize(("path", "body", "handler"), ENDPOINTS, ids=IDS)
def test_missing_credentials_are_unauthorised(client, nothing_written, path, body, handler):
    assert_ack(client.post(path, json=body), 401, "UNAUTHORISED")


@pytest.mark.parametrize("settings_overrides", [{"digiledge_allowed_networks": ["10.20.0.0/16"]}])
@pytest.mark.parametrize(("path", "body", "handler"), ENDPOINTS, ids=IDS)
def test_source_outside_the_allow_list_is_forbidden(
    client, digiledge_headers, nothing_written, settings_overrides, path, body, handler
):
    assert_ack(client.post(path, json=body, headers=digiledge_headers), 403, "FORBIDDEN")


@pytest.mark.parametrize(("path", "body", "handler"), ENDPOINTS, ids=IDS)
def test_a_body_that_is_not_json_is_invalid(client, digiledge_headers, nothing_written, path, body, handler):
    response = client.post(path, data=b'{"refId": ', content_type="application/json", headers=digiledge_headers)
    assert_ack(response, 400, "INVALID")


@pytest.mark.parametrize(("path", "body", "handler"), ENDPOINTS, ids=IDS)
def test_a_body_not_sent_as_json_is_unsupported(client, digiledge_headers, nothing_written, path, body, handler):
    response = client.post(
        path, data=b"refId=1", content_type="application/x-www-form-urlencoded", headers=digiledge_headers
    )
    assert_ack(response, 415, "INVALID")


@pytest.mark.parametrize(("path", "body", "handler"), ENDPOINTS, ids=IDS)
def test_an_oversized_body_is_refused(client, digiledge_headers, nothing_written, path, body, handler):
    response = client.post(path, json={**body, "padding": "x" * 70_000}, headers=digiledge_headers)
    assert_ack(response, 413, "INVALID")


@pytest.mark.parametrize(("path", "body", "handler"), ENDPOINTS, ids=IDS)
def test_other_methods_are_refused_in_the_ack_shape(client, digiledge_headers, path, body, handler):
    assert_ack(client.get(path, headers=digiledge_headers), 405, "INVALID")


def test_an_unknown_path_under_the_prefix_is_not_found(client, digiledge_headers):
    assert_ack(client.post("/digiledge/BillFetch", json=fetch_body(), headers=digiledge_headers), 404, "NOT_FOUND")


@pytest.mark.parametrize(("path", "body", "handler"), ENDPOINTS, ids=IDS)
def test_an_unexpected_fault_is_an_error_without_details(
    client, digiledge_headers, session, monkeypatch, path, body, handler
):
    def explode(**_):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(digiledge_protocol, handler, explode)
    response = client.post(path, json=body, headers=digiledge_headers)
    assert_ack(response, 500, "ERROR")
    assert b"secret internals" not in response.data
    logged = session.scalars(sa.select(InboundMessage).order_by(InboundMessage.id.desc())).first()
    assert logged.status_code == 500


@pytest.mark.parametrize(("path", "body", "handler"), ENDPOINTS, ids=IDS)
def test_a_database_outage_is_temporarily_unavailable(client, digiledge_headers, monkeypatch, path, body, handler):
    def unreachable(**_):
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(digiledge_protocol, handler, unreachable)
    assert_ack(client.post(path, json=body, headers=digiledge_headers), 503, "TEMPORARILY_UNAVAILABLE")


@pytest.mark.parametrize(("path", "body", "handler"), ENDPOINTS, ids=IDS)
def test_each_request_is_in_the_inbound_log_with_its_outcome_and_ref_id(
    client, digiledge_headers, session, path, body, handler
):
    client.post(path, json=body, headers=digiledge_headers)
    logged = session.scalars(sa.select(InboundMessage).order_by(InboundMessage.id.desc())).first()
    assert (logged.channel, logged.path, logged.status_code) == ("digiledge", path, 200)
    assert logged.outcome.endswith("_queued")
    assert logged.partner_ref == body["refId"]
