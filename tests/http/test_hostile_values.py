"""Hostile values inside otherwise valid bodies, on every partner endpoint (issue 13, classes 1, 4, 5 and 6).

Each endpoint's body below is accepted as it stands (a control, checked last); the same body with one string made a
lone surrogate, one key repeated, one amount or number written in other digits, or one identifier ending in a
newline is refused in the channel's own shape, and nothing but the inbound log row is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from biller_server.persistence.models import AmountExactness, Channel, InboundMessage, Payment, PaymentNotification
from tests.channels.digiledge.protocol import (
    borrower,
    fetch_body,
    instalment,
    payment_body,
    status_body,
)
from tests.conftest import DIGILEDGE_KEY, KALEIDOFIN_KEY, assert_channel_error
from tests.factories import BillFactory, PaymentFactory, ReceiptFactory
from tests.http.test_hostile_input import written_rows

KALEIDOFIN = {"X-API-Key": KALEIDOFIN_KEY}
DIGILEDGE = {"X-API-Key": DIGILEDGE_KEY}
NOTIFIED_REF = "NOTIFIED0000000000000000000000001"
STATUS_TXN_REF = "CC014110BAAA00099999"


def notification_body(status: str = "Successful", ack_ref: str = NOTIFIED_REF) -> dict[str, Any]:
    return {
        "refId": NOTIFIED_REF,
        "status": status,
        "reason": "",
        "ack": {
            "api": "PAYMENT_RESPONSE",
            "refId": ack_ref,
            "msgId": "MSG-1",
            "rspCd": "000",
            "ts": "2026-11-23T10:15:00+05:30",
            "errorMessages": [{"errorCd": "000", "errorDtl": "none"}],
        },
    }


def receipt_body() -> dict[str, Any]:
    return {
        "systemBillId": 14,
        "partnerBillId": "SAMPLE_ID",
        "paymentDetails": {"billAmount": 1000, "amountPaid": 1000, "transactionId": "20201223246869"},
    }


# (path, headers, channel, a valid body): each is answered 200 in the world ``seeded`` builds.
VALID_REQUESTS = [
    ("/bills/fetchBills", KALEIDOFIN, "kaleidofin", [{"identifierKey": "customerId", "identifierValue": "AY1234"}]),
    ("/bills/fetchReceipt", KALEIDOFIN, "kaleidofin", receipt_body()),
    ("/digiledge/payment-notification", DIGILEDGE, "digiledge", notification_body()),
    ("/digiledge/fetch", DIGILEDGE, "digiledge", fetch_body()),
    ("/digiledge/validation", DIGILEDGE, "digiledge", fetch_body()),
    ("/digiledge/payment", DIGILEDGE, "digiledge", payment_body()),
    ("/digiledge/TxnStatus402", DIGILEDGE, "digiledge", status_body(txn_ref=STATUS_TXN_REF)),
]
IDS = [path for path, *_ in VALID_REQUESTS]
WEBHOOK_SECRET = 'hook-"secret/42'  # a configured secret with characters JSON escapes (class 7)


@pytest.fixture
def settings_overrides():
    # The status request carries no tenantId, and the seeded payment has no requests in the log to take one from.
    return {"webhook_secret": WEBHOOK_SECRET, "digiledge_tenant_id": "OU42"}


@pytest.fixture
def seeded(session):
    """The customer AY1234 (loan account LAN00000001) with an EXACT bill SAMPLE_ID of 1,000 due, and a recorded
    Digiledge payment for the notification and the status request to be about."""
    customer = borrower()
    instalment(customer, partner_bill_id="SAMPLE_ID", amount_paise=100_000, exactness=AmountExactness.EXACT)
    paid = BillFactory(amount_paise=50_000, paid_paise=50_000)
    payment = PaymentFactory(
        bill=paid, channel=Channel.DIGILEDGE, partner_txn_ref=NOTIFIED_REF, customer_txn_ref=STATUS_TXN_REF
    )
    ReceiptFactory(payment=payment)
    session.commit()


def post(client, path: str, headers: dict[str, str], text: str):
    return client.post(path, data=text.encode("utf-8"), headers={**headers, "Content-Type": "application/json"})


def last_logged(session) -> InboundMessage:
    session.expire_all()
    return session.scalars(sa.select(InboundMessage).order_by(InboundMessage.id.desc())).first()


def assert_refused(client, session, path, headers, channel, text: str, what: str, says: str | None = None) -> None:
    before = written_rows(session)
    response = post(client, path, headers, text)
    assert response.status_code == 400, (what, response.status_code, response.data[:300])
    if says is not None:
        assert says in response.get_data(as_text=True), (what, response.data[:300])  # refused for this reason
    assert_channel_error(channel, 400, response.json)
    assert written_rows(session) == before, what
    logged = last_logged(session)
    assert (logged.path, logged.status_code) == (path, 400)
    assert logged.body == text.encode("utf-8"), what  # the body is kept exactly as it came, escapes and all


def assert_control_accepted(client, path, headers, body) -> None:
    response = post(client, path, headers, json.dumps(body))
    assert response.status_code == 200, response.data[:300]


# -- walking a body ----------------------------------------------------------------------------------------------


def string_paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    """The path of every string in the document, and of every key (as ``(..., ("key", name))``)."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield (*path, ("key", key))
            yield from string_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_paths(item, (*path, index))


def object_paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(value, dict):
        yield path
        for key, item in value.items():
            yield from object_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from object_paths(item, (*path, index))


def replaced(value: Any, path: tuple, new: Any) -> Any:
    """A copy of the document with the string (or key) at ``path`` replaced by ``new``."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(head, tuple):  # a key: rename it, keeping its value and place
        return {(new if key == head[1] else key): item for key, item in value.items()}
    if isinstance(value, dict):
        return {key: (replaced(item, rest, new) if key == head else item) for key, item in value.items()}
    return [replaced(item, rest, new) if index == head else item for index, item in enumerate(value)]


def with_repeated_key(value: Any, target: tuple, path: tuple = ()) -> str:
    """JSON text of the document with the first key of the object at ``target`` written twice (value repeated)."""
    if isinstance(value, dict):
        members = [f"{json.dumps(key)}:{with_repeated_key(item, target, (*path, key))}" for key, item in value.items()]
        if path == target:
            members.insert(1, members[0])
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(with_repeated_key(item, target, (*path, i)) for i, item in enumerate(value)) + "]"
    return json.dumps(value)


# -- 1. lone surrogates ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "headers", "channel", "body"), VALID_REQUESTS, ids=IDS)
def test_a_lone_surrogate_in_any_string_or_key_is_refused_in_the_channels_shape(
    client, session, seeded, path, headers, channel, body
):
    positions = list(string_paths(body))
    assert len(positions) >= 2
    for position in positions:
        for surrogate in ("\ud800", "\udfff", "x\udbffy"):
            text = json.dumps(replaced(body, position, surrogate))  # the escape \ud800, as a partner sends it
            assert "\\ud" in text
            what = f"{position} = {surrogate!r}"
            assert_refused(client, session, path, headers, channel, text, what, says="surrogate")
    assert_control_accepted(client, path, headers, body)


def test_a_valid_surrogate_pair_is_a_character_like_any_other(client, session, seeded):
    text = json.dumps([{"identifierKey": "name", "identifierValue": "Asha \U0001f600"}])
    assert "\\ud83d\\ude00" in text
    response = post(client, "/bills/fetchBills", KALEIDOFIN, text)
    assert response.status_code == 400  # a name alone identifies no one: refused by the rules, not the parser
    assert response.json["error"]["code"] != "malformed-request"


# -- 4. repeated keys --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "headers", "channel", "body"), VALID_REQUESTS, ids=IDS)
def test_a_key_repeated_in_any_object_is_refused_in_the_channels_shape(
    client, session, seeded, path, headers, channel, body
):
    objects = [position for position in object_paths(body) if _at(body, position)]  # every non-empty object
    assert objects
    for position in objects:
        text = with_repeated_key(body, position)
        assert len(text) > len(json.dumps(body, separators=(",", ":")))
        assert_refused(client, session, path, headers, channel, text, f"repeated key in {position}", says="repeats")
    assert_control_accepted(client, path, headers, body)


def _at(value: Any, path: tuple) -> Any:
    for step in path:
        value = value[step]
    return value


REPEATED_KEY_ATTACKS = [
    # The issue's own cases: what the log says and what would be booked disagree.
    (
        "/bills/fetchReceipt",
        KALEIDOFIN,
        "kaleidofin",
        '{"systemBillId":14,"partnerBillId":"NO-SUCH-BILL","partnerBillId":"SAMPLE_ID",'
        '"paymentDetails":{"billAmount":1000,"amountPaid":1000,"transactionId":"T-DUP-1"}}',
    ),
    (
        "/bills/fetchReceipt",
        KALEIDOFIN,
        "kaleidofin",
        '{"systemBillId":14,"partnerBillId":"SAMPLE_ID",'
        '"paymentDetails":{"billAmount":1000,"amountPaid":-1000,"amountPaid":1000,"transactionId":"T-DUP-2"}}',
    ),
    (
        "/digiledge/payment-notification",
        DIGILEDGE,
        "digiledge",
        json.dumps(notification_body()).replace(
            '"status": "Successful"', '"status": "Successful", "status": "Failure"'
        ),
    ),
]


@pytest.mark.parametrize(("path", "headers", "channel", "text"), REPEATED_KEY_ATTACKS)
def test_the_last_of_two_values_never_wins(client, session, seeded, path, headers, channel, text):
    assert text.count('"partnerBillId"') == 2 or text.count('"amountPaid"') == 2 or text.count('"status"') == 2
    assert_refused(client, session, path, headers, channel, text, text)
    assert session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 1  # only the seeded one
    assert session.scalar(sa.select(sa.func.count()).select_from(PaymentNotification)) == 0


# -- 5. digits other than 0-9 ------------------------------------------------------------------------------------

OTHER_DIGITS = {
    "full-width": "\uff11\uff10\uff10\uff10",  # "1000"
    "Devanagari": "\u0967\u0966\u0966\u0966",
    "Arabic-Indic": "\u0661\u0660\u0660\u0660",
}


# Every amount and identifier each endpoint reads, by its place in the body (free text for people, such as a
# notification's reason, may hold any digits, and is not read as a number).
NUMBERS_READ = {
    "/bills/fetchBills": [(0, "identifierKey"), (0, "identifierValue")],
    "/bills/fetchReceipt": [("systemBillId",), ("partnerBillId",), ("paymentDetails", "transactionId")],
    "/digiledge/payment-notification": [("refId",), ("ack", "refId"), ("ack", "msgId"), ("ack", "rspCd")],
    "/digiledge/fetch": [("refId",), ("billerId",), ("tenantId",), ("customerParams", 0, "value")],
    "/digiledge/validation": [("refId",), ("billerId",), ("tenantId",), ("customerParams", 0, "value")],
    "/digiledge/payment": [
        ("refId",),
        ("txn", "txnReferenceId"),
        ("billerId",),
        ("customerParams", 0, "value"),
        ("amount", "amt", "amount"),
    ],
    "/digiledge/TxnStatus402": [("refId",), ("txnStatusReq", "msgId"), ("txnStatusReq", "txnReferenceId")],
}


@pytest.mark.parametrize(("path", "headers", "channel", "body"), VALID_REQUESTS, ids=IDS)
def test_digits_other_than_0_to_9_in_an_amount_or_identifier_are_refused_in_the_channels_shape(
    client, session, seeded, path, headers, channel, body
):
    for position in NUMBERS_READ[path]:
        for script, digits in OTHER_DIGITS.items():
            text = json.dumps(replaced(body, position, digits), ensure_ascii=False)
            what = f"{position} = {script} digits"
            # Kaleidofin would refuse an unknown bill or customer with 400 too: its message must say why. Digiledge
            # would accept each of these (and queue its answer); its reason is cut at 100 characters.
            says = "0-9" if channel == "kaleidofin" else None
            assert_refused(client, session, path, headers, channel, text, what, says=says)
    assert_control_accepted(client, path, headers, body)


def test_a_notifications_reason_for_people_may_hold_any_digits(client, session, seeded):
    body = {**notification_body(), "reason": "\u0915\u093f\u0938\u094d\u0924 \u0967\u0968"}  # "instalment 12"
    assert post(client, "/digiledge/payment-notification", DIGILEDGE, json.dumps(body)).status_code == 200


@pytest.mark.parametrize(
    "amount",
    ["\uff11\uff10\uff10\uff10.\uff10\uff10", "\u0967\u0966\u0966\u0966.\u0966\u0966", "\u0661\u0660\u0660\u0660"],
    ids=["full-width", "Devanagari", "Arabic-Indic"],
)
def test_a_digiledge_amount_in_other_digits_books_nothing(client, session, seeded, amount):
    """The issue's cases: each was booked as 1,000 rupees."""
    body = payment_body(amount=amount)
    assert_refused(client, session, "/digiledge/payment", DIGILEDGE, "digiledge", json.dumps(body), amount)
    assert_refused(
        client, session, "/digiledge/payment", DIGILEDGE, "digiledge", json.dumps(body, ensure_ascii=False), amount
    )


@pytest.mark.parametrize(
    "text", ['{"paymentDetails": {"amountPaid": \u0661\u0660\u0660\u0660}}', '{"systemBillId": \uff11\uff14}']
)
def test_a_json_number_in_other_digits_is_no_json(client, session, seeded, text):
    assert_refused(client, session, "/bills/fetchReceipt", KALEIDOFIN, "kaleidofin", text, text)


# -- 6. full matches: a final newline is no letter ---------------------------------------------------------------

REF_ID_ENDPOINTS = [
    ("/digiledge/fetch", fetch_body),
    ("/digiledge/validation", fetch_body),
    ("/digiledge/payment", payment_body),
    ("/digiledge/TxnStatus402", status_body),
]


@pytest.mark.parametrize(("path", "build"), REF_ID_ENDPOINTS, ids=[path for path, _ in REF_ID_ENDPOINTS])
@pytest.mark.parametrize("ref_id", ["NL1\n", "NL1\r\n", "\nNL1", "NL1\n\n", "NL1 "])
def test_a_ref_id_with_a_newline_is_refused_and_queues_nothing(client, session, seeded, path, build, ref_id):
    text = json.dumps(build(ref_id=ref_id))
    assert_refused(client, session, path, DIGILEDGE, "digiledge", text, repr(ref_id))


# -- 7. secrets, wherever they appear, are not stored ------------------------------------------------------------

SECRETS = [KALEIDOFIN_KEY, DIGILEDGE_KEY, WEBHOOK_SECRET]


def assert_no_secret_stored(logged: InboundMessage) -> None:
    stored = json.dumps(logged.headers) + logged.body.decode("utf-8") + logged.path + (logged.error or "")
    for secret in SECRETS:
        assert secret not in stored
        assert json.dumps(secret)[1:-1] not in stored
    assert "[REDACTED]" in stored


@pytest.mark.parametrize(("path", "headers", "channel", "body"), VALID_REQUESTS, ids=IDS)
@pytest.mark.parametrize("header", ["X-Api-Token", "X-Key", "Authorization-Key"])
def test_a_key_under_a_header_we_do_not_expect_is_not_stored(client, session, path, headers, channel, body, header):
    for secret in SECRETS:
        response = client.post(path, json=body, headers={header: secret})
        assert response.status_code == 401
        logged = last_logged(session)
        assert logged.headers[header] == "[REDACTED]"
        assert_no_secret_stored(logged)


@pytest.mark.parametrize(("path", "headers", "channel", "body"), VALID_REQUESTS, ids=IDS)
def test_a_secret_in_a_body_or_a_path_is_not_stored(client, session, seeded, path, headers, channel, body):
    for position in list(string_paths(body))[:3]:
        for secret in SECRETS:
            text = json.dumps(replaced(body, position, f"x {secret} y"))
            post(client, path, headers, text)
            assert_no_secret_stored(last_logged(session))
    client.post(f"{path}/{KALEIDOFIN_KEY}", json=body, headers=headers)
    logged = last_logged(session)
    assert logged.path == f"{path}/[REDACTED]"
    assert_no_secret_stored(logged)


def test_a_body_without_secrets_is_stored_as_it_came(client, session, seeded):
    text = json.dumps(receipt_body())
    assert post(client, "/bills/fetchReceipt", KALEIDOFIN, text).status_code == 200
    logged = last_logged(session)
    assert logged.body == text.encode()
    assert logged.headers["X-Api-Key"] == "[REDACTED]"
