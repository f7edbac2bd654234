"""``GET /metrics`` in one process: request counters and latency, the database's gauges, the bearer token."""

import datetime as dt

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from biller_server.clients.http import PartnerHttp, Timeouts
from biller_server.domain.payments.confirmations import enqueue_payment_confirmation
from biller_server.extensions import DB_KEY, SETTINGS_KEY
from biller_server.persistence.models import Channel, Job, OutboundCall, PaymentNotification, PaymentStatus
from biller_server.persistence.types import utcnow
from tests.factories import PaymentFactory
from tests.fakes.fixtures import fake_partner  # noqa: F401 (a fixture)
from tests.fakes.server import Reply, closed_port_url


def samples(text):
    """{(name, frozenset(labels)): value} for every sample of an exposition."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client, **headers):
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.mimetype == "text/plain"
    return samples(response.text)


def value(metrics, name, **labels):
    return metrics.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_by_route_and_status_with_their_latency(client, kaleidofin_headers):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.post("/bills/fetchBills", json=[], headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get("/no/such/path/42").status_code == 404

    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("biller_http_requests_total", method="GET", endpoint="/healthz", status="200") == 3
    assert delta("biller_http_requests_total", method="POST", endpoint="/bills/fetchBills", status="401") == 1
    assert delta("biller_http_requests_total", method="GET", endpoint="<unmatched>", status="404") == 1
    assert delta("biller_http_request_duration_seconds_count", method="GET", endpoint="/healthz") == 3
    assert delta("biller_http_request_duration_seconds_bucket", method="GET", endpoint="/healthz", le="+Inf") == 3
    assert not any("/no/such/path/42" in str(labels) for _, labels in after)  # raw paths never become labels


def test_partner_calls_are_counted_by_result_with_their_latency(client, fake_partner):  # noqa: F811
    fake_partner.reply("POST", "/status", Reply(status=200, body={}), Reply(status=503, body="down"))
    http = PartnerHttp(partner="kaleidofin", timeouts=Timeouts(0.5, 0.5))
    before = scrape(client)

    http.request(operation="status", method="POST", url=f"{fake_partner.url}/status", json_body={}, calls=[])
    http.request(operation="status", method="POST", url=f"{fake_partner.url}/status", json_body={}, calls=[])
    with pytest.raises(Exception, match="ConnectionError"):
        http.request(operation="status", method="POST", url=f"{closed_port_url()}/status", json_body={}, calls=[])
    http.close()
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    labels = {"partner": "kaleidofin", "operation": "status"}
    assert delta("biller_partner_calls_total", result="2xx", **labels) == 1
    assert delta("biller_partner_calls_total", result="5xx", **labels) == 1
    assert delta("biller_partner_calls_total", result="connection_error", **labels) == 1
    assert delta("biller_partner_call_duration_seconds_count", **labels) == 3


def test_database_gauges_show_payments_queue_depth_and_lag(client, session):
    now = utcnow()
    PaymentFactory(channel=Channel.KALEIDOFIN, status=PaymentStatus.CONFIRMED)
    PaymentFactory(channel=Channel.KALEIDOFIN, status=PaymentStatus.CONFIRMED, flagged=True)
    PaymentFactory(channel=Channel.DIGILEDGE, status=PaymentStatus.UNRESOLVED)
    waiting = PaymentFactory(channel=Channel.DIGILEDGE)
    later = PaymentFactory(channel=Channel.DIGILEDGE)
    enqueue_payment_confirmation(session=session, payment=waiting, confirm_with="digiledge", now=now)
    enqueue_payment_confirmation(session=session, payment=later, confirm_with="digiledge", now=now)
    session.flush()
    waiting_job, later_job = session.scalars(sa.select(Job).order_by(Job.id))
    waiting_job.due_at = now - dt.timedelta(seconds=90)  # due for a minute and a half: the queue's lag
    later_job.due_at = now + dt.timedelta(minutes=5)  # pending, not due
    session.add(
        PaymentNotification(
            channel=Channel.DIGILEDGE,
            ref_id="UNKNOWN-1",
            fingerprint="f" * 64,
            body={},
            reported_status="Successful",
            outcome="unknown_payment",
            ack_code=0,
            ack_status="",
            ack_reason="",
            needs_reconciliation=True,
        )
    )
    session.add(OutboundCall(partner="setu", operation="status", method="POST", url="u", error="HTTP 503"))
    session.add(OutboundCall(partner="setu", operation="status", method="POST", url="u", response_status=200))
    session.add(
        OutboundCall(
            partner="setu",
            operation="status",
            method="POST",
            url="u",
            error="timeout",
            created_at=now - dt.timedelta(hours=1),  # outside the 15-minute window
        )
    )
    session.flush()

    metrics = scrape(client)

    assert value(metrics, "biller_database_up") == 1
    assert value(metrics, "biller_payments", channel="kaleidofin", status="CONFIRMED") == 2
    assert value(metrics, "biller_payments", channel="digiledge", status="RECEIVED") == 2
    assert value(metrics, "biller_payments", channel="digiledge", status="UNRESOLVED") == 1
    assert ("biller_payments", frozenset({"channel": "offline", "status": "FAILED"}.items())) in metrics  # zeros too
    assert value(metrics, "biller_payments_flagged", channel="kaleidofin") == 1
    assert value(metrics, "biller_jobs", kind="confirm_payment", state="pending") == 2
    assert value(metrics, "biller_jobs_due", kind="confirm_payment") == 1
    assert 90 <= value(metrics, "biller_jobs_oldest_due_age_seconds", kind="confirm_payment") < 150
    assert value(metrics, "biller_jobs_oldest_due_age_seconds", kind="deliver_webhook") == 0
    assert value(metrics, "biller_notifications_needing_reconciliation", channel="digiledge") == 1
    assert value(metrics, "biller_partner_calls_recent", partner="setu", result="error") == 1
    assert value(metrics, "biller_partner_calls_recent", partner="setu", result="ok") == 1


def test_a_database_that_does_not_answer_gives_database_up_zero(client, app, monkeypatch):
    def broken():
        raise RuntimeError("connection refused")

    monkeypatch.setattr(app.extensions[DB_KEY], "new_session", broken)

    metrics = scrape(client)

    assert value(metrics, "biller_database_up") == 0
    assert ("biller_payments", frozenset({"channel": "kaleidofin", "status": "CONFIRMED"}.items())) not in metrics


class TestBearerToken:
    @pytest.fixture
    def settings_overrides(self):
        return {"metrics_token": "metrics-token-0123456789"}

    def test_without_the_token_metrics_are_refused(self, client):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic bWV0cmljczp4"}):
            response = client.get("/metrics", headers=headers)
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert "biller_" not in response.text

    def test_with_the_token_metrics_are_served(self, client):
        metrics = scrape(client, Authorization="Bearer metrics-token-0123456789")
        assert value(metrics, "biller_database_up") == 1


def methods_counted(text):
    return {
        sample.labels["method"]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in ("biller_http_requests_total", "biller_http_request_duration_seconds_count")
    }


def test_an_unknown_method_is_counted_as_other_never_as_its_own_label(client):
    # gunicorn passes any method of 3 to 20 capital letters; an unauthenticated client must not make new series.
    before = scrape(client)
    for i in range(50):
        client.open("/digiledge/payment", method=f"X{i:04d}")
    client.open("/no/such/path/7", method="BREW")
    client.open("/healthz", method="OPTIONS")
    response = client.get("/metrics")
    after = samples(response.text)

    methods = methods_counted(response.text)
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}, methods
    assert not any(label.startswith("X0") or label == "BREW" for label in methods)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    def other_requests(metrics):
        return sum(
            v
            for (name, labels), v in metrics.items()
            if name == "biller_http_requests_total"
            and ("method", "OTHER") in labels
            and ("endpoint", "<unmatched>") in labels
        )

    assert other_requests(after) - other_requests(before) == 51  # refused (401, 404, 405): still counted, as OTHER
    assert delta("biller_http_request_duration_seconds_count", method="OTHER", endpoint="<unmatched>") == 51
    # No endpoint answers OPTIONS (405): a known method keeps its own label.
    assert delta("biller_http_requests_total", method="OPTIONS", endpoint="<unmatched>", status="405") == 1


def test_the_endpoint_label_is_the_route_rule_or_unmatched_never_the_raw_path(client, kaleidofin_headers):
    for n in range(20):
        client.get(f"/no/such/path/{n}")
        client.post(f"/digiledge/payment/{n}", json={})
    client.get("/healthz?x=1")
    text = client.get("/metrics").text

    endpoints = {
        sample.labels["endpoint"]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "biller_http_requests_total"
    }
    assert "<unmatched>" in endpoints
    assert "/healthz" in endpoints
    assert not any("/no/such/path" in e or "/digiledge/payment/" in e or "?" in e for e in endpoints), endpoints


PRODUCTION = {
    "env": "production",
    "kaleidofin_status_url": "https://kaleidofin.example/status",
    "digiledge_payment_status_url": "https://digiledge.example/status",
    "digiledge_biller_id": "BILLER42",
}


class TestClosedInProduction:
    """BILLER_ENV=production without BILLER_METRICS_TOKEN: /metrics answers 403, it is never open by default."""

    @pytest.fixture
    def settings_overrides(self):
        return PRODUCTION

    def test_without_a_token_metrics_are_forbidden(self, client, app):
        assert app.extensions[SETTINGS_KEY].is_production
        for headers in ({}, {"Authorization": "Bearer anything"}):
            response = client.get("/metrics", headers=headers)
            assert response.status_code == 403
            assert "set BILLER_METRICS_TOKEN" in response.text
            assert "biller_database_up" not in response.text and "biller_http" not in response.text


class TestProductionWithAToken:
    @pytest.fixture
    def settings_overrides(self):
        return {**PRODUCTION, "metrics_token": "metrics-token-0123456789"}

    def test_metrics_are_served_to_the_tokens_holder_only(self, client):
        assert client.get("/metrics").status_code == 401
        metrics = scrape(client, Authorization="Bearer metrics-token-0123456789")
        assert value(metrics, "biller_database_up") == 1


class TestOpenOutsideProduction:
    @pytest.fixture(params=["development", "test"])
    def settings_overrides(self, request):
        return {"env": request.param}

    def test_without_a_token_metrics_stay_open(self, client, app):
        settings = app.extensions[SETTINGS_KEY]
        assert (settings.is_production, settings.metrics_token) == (False, None)
        assert value(scrape(client), "biller_database_up") == 1
