"""``biller-server status``: the whole installation on one screen, from the database."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from biller_server.cli import cli
from biller_server.domain.payments.outcomes import mark_payment_unresolved
from biller_server.jobs.heartbeats import beat
from biller_server.persistence.models import InboundMessage, OutboundCall
from biller_server.persistence.types import utcnow
from tests.factories import PaymentFactory


@pytest.fixture
def settings_overrides():
    return {"channels": "kaleidofin"}


@pytest.fixture
def installation(session):
    now = utcnow()
    beat(session=session, name="api-1:serve-8000", host="api-1", pid=7, started_at=now, last_poll_at=now)
    old = now - dt.timedelta(minutes=10)
    beat(session=session, name="worker-1:worker", host="worker-1", pid=8, started_at=old, last_poll_at=old)
    stuck = PaymentFactory(amount_paise=125_000_050)
    mark_payment_unresolved(session=session, payment=stuck, source="kaleidofin:check", reason="no answer", now=now)
    session.add(
        InboundMessage(
            received_at=now - dt.timedelta(seconds=90),
            channel="kaleidofin",
            method="POST",
            path="/bills/fetchBills",
            request_id="r1",
            headers={},
            body=b"[]",
            status_code=200,
            outcome="bills_fetched",
        )
    )
    session.add(
        OutboundCall(
            created_at=now - dt.timedelta(seconds=30),
            partner="kaleidofin",
            operation="status",
            method="POST",
            url="https://kaleidofin.example/status",
            request_body=None,
            response_status=503,
            error="HTTP 503",
        )
    )
    session.flush()
    return now


def test_one_screen_says_what_runs_and_what_needs_a_person(app, installation):
    result = app.test_cli_runner().invoke(cli, ["status"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) <= 40  # one screen
    assert lines[0].startswith("version:     0.1.0 (commit ")
    assert "database is: reachable" in lines
    assert any(line.startswith("schema is:") and line.endswith("current") for line in lines)
    assert "channels:    kaleidofin" in lines
    assert any(line.startswith("api-1:serve-8000") and line.endswith("ok") for line in lines)
    assert any(line.startswith("worker-1:worker") and line.endswith("stale (over 120 s)") for line in lines)
    assert "unresolved amount:   12,50,000.50" in lines
    assert any(line.startswith("kaleidofin ") and "status" in line and line.endswith("HTTP 503") for line in lines)


def test_as_json(app, installation):
    result = app.test_cli_runner().invoke(cli, ["status", "--format", "json"])

    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["status"]["database_status"] == "reachable"
    assert status["status"]["schema_status"] == "current"
    assert {worker["name"]: worker["state"] for worker in status["workers"]} == {
        "api-1:serve-8000": "ok",
        "worker-1:worker": "stale (over 120 s)",
    }
    assert status["books"]["unresolved_payments"] == 1
    assert status["books"]["unresolved_amount"] == "1250000.50"
    assert [channel["channel"] for channel in status["channels"]] == ["kaleidofin"]  # only the enabled ones
    assert status["channels"][0]["seconds_since_call"] == pytest.approx(90, abs=5)
    assert status["partners"] == [
        {
            "partner": "kaleidofin",
            "last_call_at": (installation - dt.timedelta(seconds=30)).isoformat(),
            "operation": "status",
            "answer": "HTTP 503",
        }
    ]
    assert {row["kind"] for row in status["queue"]} >= {"confirm_payment", "deliver_webhook"}
