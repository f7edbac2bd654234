"""Pytest fixtures for the fake partners; imported by the conftest of each test package that uses them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from biller_server.clients.base import PaymentContext
from tests.fakes.digiledge_bou import FakeDigiledgeBou
from tests.fakes.server import FakePartnerServer


@pytest.fixture
def fake_partner() -> Iterator[FakePartnerServer]:
    server = FakePartnerServer()
    try:
        yield server
    finally:
        server.close()


def payment_context(**overrides: object) -> PaymentContext:
    values: dict[str, object] = {
        "payment_id": 1,
        "channel": "kaleidofin",
        "partner_txn_ref": "127829461946",
        "amount_paise": 100_000,
        "paid_at": dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC),
        "partner_bill_id": "TESTING-002",
        "partner_bill_ref": "15",
        "customer_txn_ref": "TXNREF-1",
        "lender_customer_id": "AY1234",
    }
    values.update(overrides)
    return PaymentContext(**values)  # type: ignore[arg-type]


@pytest.fixture
def digiledge_bou() -> Iterator[FakeDigiledgeBou]:
    bou = FakeDigiledgeBou()
    try:
        yield bou
    finally:
        bou.close()
