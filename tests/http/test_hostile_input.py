"""Hostile input on every partner endpoint: a 4xx in the channel's own shape, nothing written but the inbound log."""

import json

import pytest
import sqlalchemy as sa

from biller_server.persistence.models import Base, InboundMessage
from tests.conftest import DIGILEDGE_KEY, KALEIDOFIN_KEY, PARTNER_ENDPOINTS, SETU_KEY, assert_channel_error

KALEIDOFIN = {"X-API-Key": KALEIDOFIN_KEY}
DIGILEDGE = {"X-API-Key": DIGILEDGE_KEY}
SETU = {"X-API-Key": SETU_KEY}
ENDPOINTS = [(path, {"X-API-Key": key}, channel) for path, key, channel in PARTNER_ENDPOINTS]
INJECTIONS = ["' OR '1'='1", "1; DROP TABLE bills; --", "<script>alert(1)</script>", "\u0000", "../../etc/passwd"]


def hostile_bodies():
    deep = "[" * 20_000 + "]" * 20_000
    yield "deeply nested", deep.encode(), "application/json"
    yield "not utf-8", b'{"refId": "\xff\xfe\xfa"}', "application/json"
    yield (
        "latin-1 array",
        '[{"identifierKey": "name", "identifierValue": "J\xf6rg"}]'.encode("latin-1"),
        ("application/json"),
    )
    yield "huge exponent", b'{"paymentDetails": {"amountPaid": 1e309}}', "application/json"
    yield "decimal-overflowing exponent", b'{"paymentDetails": {"amountPaid": 1e999999999}}', "application/json"
    yield "NaN", b'{"paymentDetails": {"amountPaid": NaN}}', "application/json"
    yield "20-digit amount", b'{"paymentDetails": {"amountPaid": 12345678901234567890}}', "application/json"
    yield "negative amount", b'{"paymentDetails": {"amountPaid": -5}}', "application/json"
    yield "form body", b"refId=1&status=Successful", "application/x-www-form-urlencoded"
    yield "xml body", b"<xml/>", "application/xml"
    yield "no content type", b"{}", ""
    yield "empty body", b"", "application/json"
    yield "a bare string", b'"hello"', "application/json"
    yield "null", b"null", "application/json"
    yield "oversized", b'["' + b"x" * 70_000 + b'"]', "application/json"
    for fragment in INJECTIONS:
        text = json.dumps(
            {
                "refId": fragment,
                "status": fragment,
                "reason": fragment,
                "ack": {"msgId": fragment, "rspCd": fragment, "ts": fragment},
                "systemBillId": fragment,
                "partnerBillId": fragment,
                "paymentDetails": {"billAmount": fragment, "amountPaid": fragment, "transactionId": fragment},
            }
        )
        yield f"injection {fragment!r} object", text.encode(), "application/json"
        text = json.dumps([{"identifierKey": fragment, "identifierValue": fragment}])
        yield f"injection {fragment!r} array", text.encode(), "application/json"
    # Setu's shapes: amounts as {value, currencyCode}, identifiers as attributeName / attributeValue.
    for name, value in [
        ("1e309", "1e309"),
        ("1e999999999", "1e999999999"),
        ("20 digits", "12345678901234567890"),
        ("NaN", "NaN"),
        ("Devanagari digits", '"\u0967\u0966\u0966\u0966"'),
        ("a whole float", "1000.0"),
    ]:
        details = (
            f'{{"amountPaid": {{"value": {value}}}, "platformTransactionRefID": "P1", "uniquePaymentRefID": "U1"}}'
        )
        text = f'{{"platformBillID": "1", "billerBillID": "1", "paymentDetails": {details}}}'
        yield f"setu amount {name}", text.encode(), "application/json"
    text = json.dumps({"customerIdentifiers": [{"attributeName": "customerId", "attributeValue": "\u0967\u0968"}]})
    yield "setu identifier in Devanagari digits", text.encode(), "application/json"
    text = json.dumps({"customerIdentifiers": [{"attributeName": "customerId", "attributeValue": "1"}] * 11})
    yield "setu too many identifiers", text.encode(), "application/json"


CASES = [
    (path, headers, channel, name, body, ctype)
    for path, headers, channel in ENDPOINTS
    for name, body, ctype in hostile_bodies()
]


def assert_channel_shape(channel, response):
    assert_channel_error(channel, response.status_code, response.json)


def written_rows(session):
    return {
        table.name: session.scalar(sa.select(sa.func.count()).select_from(table))
        for table in Base.metadata.sorted_tables
        if table.name != "inbound_messages"
    }


@pytest.mark.parametrize(
    ("path", "headers", "channel", "name", "body", "ctype"), CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES]
)
def test_hostile_body_gets_a_4xx_in_the_channel_shape_and_writes_nothing(
    client, session, path, headers, channel, name, body, ctype
):
    before = written_rows(session)
    response = client.post(path, data=body, headers={**headers, "Content-Type": ctype} if ctype else headers)
    assert 400 <= response.status_code < 500, (name, response.status_code, response.data[:300])
    assert_channel_shape(channel, response)
    assert b"Traceback" not in response.data
    assert written_rows(session) == before
    logged = session.scalars(sa.select(InboundMessage).order_by(InboundMessage.id.desc())).first()
    assert logged is not None and logged.status_code == response.status_code


@pytest.mark.parametrize(("path", "headers", "channel"), ENDPOINTS)
@pytest.mark.parametrize(
    "credentials",
    [{}, {"X-API-Key": ""}, {"X-API-Key": "0" * len(KALEIDOFIN_KEY)}, {"Authorization": "Bearer x"}],
)
def test_wrong_credentials_are_401_in_the_channel_shape(client, session, path, headers, channel, credentials):
    before = written_rows(session)
    response = client.post(path, json={}, headers=credentials)
    assert response.status_code == 401
    assert_channel_shape(channel, response)
    assert written_rows(session) == before


@pytest.mark.parametrize(("path", "headers", "channel"), ENDPOINTS)
def test_other_methods_are_405_in_the_channel_shape_with_allow(client, path, headers, channel):
    for method in ("GET", "PUT", "PATCH", "DELETE", "OPTIONS"):
        response = client.open(path, method=method, headers=headers)
        assert response.status_code == 405, method
        assert response.headers["Allow"] == "POST"
        assert_channel_shape(channel, response)


@pytest.mark.parametrize(("path", "headers", "channel"), ENDPOINTS)
def test_head_is_405_with_allow_and_no_body(client, path, headers, channel):
    response = client.head(path, headers=headers)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.headers["Content-Type"] == "application/json"
    assert response.data == b""


@pytest.mark.parametrize(("path", "headers", "channel"), ENDPOINTS)
def test_any_method_needs_the_channels_credentials_first(client, session, path, headers, channel):
    before = written_rows(session)
    for method in ("OPTIONS", "HEAD", "GET"):
        response = client.open(path, method=method)
        assert response.status_code == 401, method
        assert "Allow" not in response.headers  # nothing about the endpoint is told before authentication
        if method != "HEAD":
            assert_channel_shape(channel, response)
    assert written_rows(session) == before


SETU_RECEIPT = {
    "platformBillID": "906910589572351478",
    "billerBillID": "891234567",
    "paymentDetails": {
        "amountPaid": {"value": 1000, "currencyCode": "INR"},
        "platformTransactionRefID": "26602931-3b6a-4c87-a14d-5d7cf584008f",
        "uniquePaymentRefID": "PP012151MYB616O9BSY1",
        "transactionNote": "note",
    },
}

# Schema-valid bodies but for one NUL character, in the field that reaches the database first.
NUL_BODIES = [
    (
        "/setu/bills/fetch",
        SETU,
        "setu",
        {"customerIdentifiers": [{"attributeName": "customerId", "attributeValue": "9117\u000034711"}]},
    ),
    ("/setu/bills/fetchReceipt", SETU, "setu", {**SETU_RECEIPT, "billerBillID": "8912\u000034567"}),
    (
        "/setu/bills/fetchReceipt",
        SETU,
        "setu",
        {**SETU_RECEIPT, "paymentDetails": {**SETU_RECEIPT["paymentDetails"], "transactionNote": "a\u0000b"}},
    ),
    ("/bills/fetchBills", KALEIDOFIN, "kaleidofin", [{"identifierKey": "customerId", "identifierValue": "AY\u00001"}]),
    (
        "/bills/fetchReceipt",
        KALEIDOFIN,
        "kaleidofin",
        {
            "systemBillId": 14,
            "partnerBillId": "SAMPLE\u0000ID",
            "paymentDetails": {"billAmount": 1000, "amountPaid": 1000, "transactionId": "T1"},
        },
    ),
    (
        "/bills/fetchReceipt",
        KALEIDOFIN,
        "kaleidofin",
        {
            "systemBillId": 14,
            "partnerBillId": "SAMPLE_ID",
            "paymentDetails": {"billAmount": 1000, "amountPaid": 1000, "transactionId": "T\u00001"},
        },
    ),
    (
        "/digiledge/payment-notification",
        DIGILEDGE,
        "digiledge",
        {
            "refId": "REF\u00001",
            "status": "Successful",
            "reason": "",
            "ack": {"msgId": "M1", "rspCd": "000", "ts": "2026-11-23T10:15:00+05:30"},
        },
    ),
    (
        "/digiledge/payment-notification",
        DIGILEDGE,
        "digiledge",
        {
            "refId": "REF1",
            "status": "Successful",
            "reason": "",
            "\u0000": "in a key",
            "ack": {"msgId": "M1", "rspCd": "000", "ts": "2026-11-23T10:15:00+05:30"},
        },
    ),
]


@pytest.mark.parametrize(("path", "headers", "channel", "body"), NUL_BODIES)
def test_a_nul_character_anywhere_is_a_400_not_a_database_error(client, session, path, headers, channel, body):
    before = written_rows(session)
    text = json.dumps(body)  # the NUL travels as the JSON escape \\u0000, as a partner would send it
    assert "\\u0000" in text
    response = client.post(path, data=text, headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert_channel_shape(channel, response)
    assert written_rows(session) == before


def test_a_key_for_one_channel_does_not_open_another(client):
    assert client.post("/bills/fetchBills", json=[], headers=DIGILEDGE).status_code == 401
    assert client.post("/digiledge/payment-notification", json={}, headers=KALEIDOFIN).status_code == 401


def test_no_secret_reaches_any_log_line_whatever_the_input(client, capsys):
    import logging

    logging.getLogger("biller_server").setLevel(logging.DEBUG)
    for path, headers, channel in ENDPOINTS:
        for _, body, ctype in hostile_bodies():
            client.post(path, data=body, headers={**headers, "Content-Type": ctype or "application/json"})
        # A partner that echoes a key into the body, or sends the other channel's key.
        client.post(path, json={"refId": KALEIDOFIN_KEY, "note": DIGILEDGE_KEY}, headers=headers)
        client.post(path, json=[], headers={"X-API-Key": DIGILEDGE_KEY if channel == "kaleidofin" else KALEIDOFIN_KEY})
    logged = capsys.readouterr().err
    assert logged  # the requests were logged at all
    assert KALEIDOFIN_KEY not in logged
    assert DIGILEDGE_KEY not in logged
    assert SETU_KEY not in logged
