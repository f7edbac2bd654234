"""A job attempt that gets no usable answer is seen: one JSON line with its partner and class of error, a count in
``biller_job_attempt_failures_total``, and ``worker --once`` exits non-zero. A confirmer that can never succeed is
warned about when the worker starts."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from biller_server.config import load_settings

from biller_server.cli.worker import warn_unconfigured_confirmers, worker_command
from biller_server.clients.base import (
    CallRecord,
    PartnerNotConfigured,
    PartnerRejectedRequest,
    PartnerRequestNotSent,
    PartnerUnavailable,
)
from biller_server.instruments import INSTRUMENTS
from biller_server.jobs.attempts import ERROR_CLASSES, classify
from biller_server.persistence.types import utcnow
from tests.jobs.conftest import received_payment


def _call(status: int | None = None, error: str | None = None) -> CallRecord:
    return CallRecord("p", "status", "GET", "https://p.example/status", None, response_status=status, error=error)


@pytest.mark.parametrize(
    ("error", "calls", "expected"),
    [
        (PartnerNotConfigured("BILLER_KALEIDOFIN_STATUS_URL is not set"), [], "not_configured"),
        (PartnerRequestNotSent("no systemBillId"), [], "not_sent"),
        (PartnerUnavailable("no answer in time"), [_call(error="timeout: ReadTimeout")], "timeout"),
        (PartnerUnavailable("refused"), [_call(error="ConnectionError: refused")], "connection_error"),
        (PartnerUnavailable("HTTP 503"), [_call(503, "HTTP 503")], "http_5xx"),
        (PartnerUnavailable("HTTP 429"), [_call(429, "HTTP 429")], "http_4xx"),
        (PartnerRejectedRequest("HTTP 400"), [_call(400, "HTTP 400: request rejected")], "http_4xx"),
        (PartnerUnavailable("malformed JSON"), [_call(200, "malformed JSON")], "malformed_answer"),
        (PartnerUnavailable("unexpected error: KeyError: 'x'"), [], "unexpected"),
    ],
)
def test_each_failure_has_one_of_a_few_classes(error, calls, expected):
    assert classify(error, calls) == expected
    assert expected in ERROR_CLASSES


def _failures(partner: str, error_class: str) -> float:
    value = INSTRUMENTS.get_sample_value(
        "biller_job_attempt_failures_total", {"partner": partner, "error_class": error_class}
    )
    return value or 0.0


class TestWorkerOnce:
    @pytest.fixture
    def settings_overrides(self):
        # Nothing listens on port 9: the call is refused at once.
        return {"kaleidofin_status_url": "http://127.0.0.1:9/status"}

    def test_a_failed_attempt_is_one_json_line_a_count_and_exit_status_1(self, app, session):
        payment = received_payment(
            session, confirm_with="kaleidofin", now=utcnow() - dt.timedelta(seconds=10), partner_bill_ref="15"
        )
        before = _failures("kaleidofin", "connection_error")

        result = app.test_cli_runner().invoke(worker_command, ["--once", "--concurrency", "1"])

        assert result.exit_code == 1
        assert result.stdout == "1 job(s) worked\n"
        *log_lines, last = result.stderr.splitlines()
        assert last == "Error: 1 attempt(s) and 0 turn(s) failed (one JSON line each in the log); exiting with status 1"
        assert _failures("kaleidofin", "connection_error") == before + 1
        [line] = [json.loads(line) for line in log_lines if json.loads(line)["message"] == "job attempt failed"]
        assert line["level"] == "warning"
        assert (line["partner"], line["error_class"], line["kind"]) == (
            "kaleidofin",
            "connection_error",
            "confirm_payment",
        )
        assert line["job_id"] and "kaleidofin" in line["error"]
        assert payment.id  # the job stays queued for its next check (retried on the schedule)


class TestUnconfiguredConfirmers:
    def test_development_without_a_status_url_is_warned_once_per_partner(self, caplog):
        settings = load_settings(env="development", digiledge_confirmed_by="kaleidofin")

        with caplog.at_level(logging.WARNING, logger="biller_server.jobs"):
            warn_unconfigured_confirmers(settings)

        assert [record.getMessage() for record in caplog.records] == [
            "kaleidofin, digiledge payments can never be confirmed: kaleidofin confirms them and "
            "BILLER_KALEIDOFIN_STATUS_URL is not set (set it, or BILLER_<CHANNEL>_CONFIRMED_BY=fake to try the "
            "server out)"
        ]

    def test_a_configured_or_fake_confirmer_and_a_channel_that_is_off_say_nothing(self, caplog):
        settings = load_settings(
            env="development",
            channels="kaleidofin",
            kaleidofin_confirmed_by="fake",  # and Digiledge, off, has no status URL either
        )

        with caplog.at_level(logging.WARNING, logger="biller_server.jobs"):
            warn_unconfigured_confirmers(settings)

        assert caplog.records == []

    def test_the_worker_command_warns_at_start(self, app, caplog):
        with caplog.at_level(logging.WARNING, logger="biller_server.jobs"):
            result = app.test_cli_runner().invoke(worker_command, ["--once"])

        assert result.exit_code == 0, result.output
        warnings = [record.getMessage() for record in caplog.records if "can never be confirmed" in record.getMessage()]
        assert len(warnings) == 3  # kaleidofin, digiledge and setu, each its own confirmer with no status URL
