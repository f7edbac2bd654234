"""The figures operations watch beside traffic: the build, a partner gone silent, the last bill upload, what is
owed on open bills, the database pool; and the whole exposition passes promtool's lint."""

import datetime as dt
import math
import os
import shutil
import subprocess

import pytest

from biller_server import __version__
from biller_server.build import checkout_commit
from biller_server.domain.india import IST
from biller_server.domain.settlement import ack_break, record_partner_settlement
from biller_server.persistence.models import BillStatus, BillUpload, BillUploadState, InboundMessage
from biller_server.persistence.types import utcnow
from tests.factories import BillFactory
from tests.http.test_metrics import scrape, value


def inbound(session, *, channel, age, outcome="bills_fetched", status=200):
    session.add(
        InboundMessage(
            received_at=utcnow() - age,
            channel=channel,
            method="POST",
            path="/bills/fetchBills",
            request_id=f"req-{channel}-{outcome}-{age.total_seconds()}",
            headers={},
            body=b"[]",
            status_code=status,
            outcome=outcome,
        )
    )
    session.flush()


def test_build_info_names_the_version_and_commit(client):
    metrics = scrape(client)

    assert value(metrics, "biller_build_info", version=__version__, commit=checkout_commit()) == 1


class TestSilentPartner:
    def test_seconds_since_each_channels_last_authenticated_call(self, client, session):
        inbound(session, channel="kaleidofin", age=dt.timedelta(minutes=10))
        # Calls refused at the door (anyone can make them) must not hide a partner gone silent.
        inbound(session, channel="kaleidofin", age=dt.timedelta(minutes=1), outcome="unauthenticated", status=401)
        inbound(session, channel="kaleidofin", age=dt.timedelta(seconds=30), outcome="forbidden", status=403)

        metrics = scrape(client)

        assert 600 <= value(metrics, "biller_inbound_seconds_since_last_call", channel="kaleidofin") < 660

    def test_a_refused_answer_after_authentication_still_counts_as_a_call(self, client, session):
        inbound(session, channel="digiledge", age=dt.timedelta(minutes=2), outcome="rejected", status=400)

        metrics = scrape(client)

        assert 120 <= value(metrics, "biller_inbound_seconds_since_last_call", channel="digiledge") < 180

    def test_a_channel_never_called_is_infinitely_silent(self, client):
        metrics = scrape(client)

        assert math.isinf(value(metrics, "biller_inbound_seconds_since_last_call", channel="digiledge"))

    def test_only_the_apps_channels_are_watched(self, client):
        channels = {
            dict(labels)["channel"]
            for name, labels in scrape(client)
            if name == "biller_inbound_seconds_since_last_call"
        }

        assert channels == {"kaleidofin", "digiledge", "setu"}  # not "offline": nobody calls it


class TestLastBillUpload:
    def test_zero_when_nothing_was_ever_uploaded(self, client):
        assert ("biller_bill_upload_last_success_timestamp_seconds", frozenset()) in scrape(client)
        assert value(scrape(client), "biller_bill_upload_last_success_timestamp_seconds") == 0

    def test_the_time_of_the_latest_upload(self, client, session):
        latest = dt.datetime(2026, 11, 2, 3, 30, tzinfo=dt.UTC)
        for finished_at in (latest - dt.timedelta(days=1), latest):
            session.add(
                BillUpload(
                    file_name="bills.csv",
                    file_path="/srv/uploads/bills.csv",
                    file_sha256="0" * 64,
                    file_size=120,
                    operator="ops",
                    state=BillUploadState.FINISHED,
                    started_at=finished_at - dt.timedelta(seconds=5),
                    finished_at=finished_at,
                    rows=1,
                    bills_created=1,
                )
            )
        session.flush()

        metrics = scrape(client)

        assert value(metrics, "biller_bill_upload_last_success_timestamp_seconds") == latest.timestamp()


def test_open_bills_and_the_amount_owed_on_them_in_paise(client, session):
    BillFactory(amount_paise=100_000, paid_paise=0, status=BillStatus.OPEN)
    BillFactory(amount_paise=150_050, paid_paise=0, status=BillStatus.OPEN)
    BillFactory(amount_paise=50_000, paid_paise=20_001, status=BillStatus.PARTIALLY_PAID)
    BillFactory(amount_paise=70_000, paid_paise=70_000, status=BillStatus.PAID)
    BillFactory(amount_paise=90_000, paid_paise=0, status=BillStatus.CANCELLED)

    metrics = scrape(client)

    assert value(metrics, "biller_bills_open", status="OPEN") == 2
    assert value(metrics, "biller_bills_open", status="PARTIALLY_PAID") == 1
    assert value(metrics, "biller_bills_outstanding_paise", status="OPEN") == 250_050
    assert value(metrics, "biller_bills_outstanding_paise", status="PARTIALLY_PAID") == 29_999
    assert ("biller_bills_open", frozenset({"status": "PAID"}.items())) not in metrics


def test_the_pool_figures_are_exposed(client):
    families = client.get("/metrics").text

    for name in (
        "biller_db_pool_connections",
        "biller_db_pool_overflow_connections",
        "biller_db_pool_max_connections",
        "biller_db_pool_waits_total",
        "biller_db_pool_wait_seconds_total",
        "biller_db_pool_timeouts_total",
    ):
        assert f"# TYPE {name} " in families


@pytest.mark.skipif(
    not shutil.which("promtool") and not os.environ.get("CI"), reason="promtool is not installed (Debian: prometheus)"
)
def test_the_exposition_passes_promtools_lint(client, session, kaleidofin_headers):
    BillFactory()
    client.post(
        "/bills/fetchBills", json=[{"identifierKey": "customerId", "identifierValue": "C1"}], headers=kaleidofin_headers
    )
    text = client.get("/metrics").text

    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False)  # noqa: S607

    assert result.returncode == 0, result.stdout + result.stderr


class TestUnreconciledMoney:
    """biller_unreconciled_paise: the money open settlement breaks of the days before yesterday leave unexplained."""

    def _line(self, session, days_ago, ref, amount_paise):
        day = utcnow().astimezone(IST).date() - dt.timedelta(days=days_ago)
        record_partner_settlement(
            session=session,
            partner="setu",
            settlement_ref=ref,
            settled_on=day,
            amount_paise=amount_paise,
            payment_refs=[],
            source="test",
            now=utcnow(),
        )
        session.flush()

    def test_a_settlement_the_bank_never_showed_counts_once_it_is_older_than_a_day(self, client, session):
        self._line(session, 3, "CMS-OLD", 124_056)
        self._line(session, 1, "CMS-YESTERDAY", 99_999)  # yesterday's statement may not be in yet

        metrics = scrape(client)

        assert value(metrics, "biller_unreconciled_paise", kind="settled_not_in_bank") == 124_056
        assert value(metrics, "biller_unreconciled_breaks", kind="settled_not_in_bank") == 1
        assert value(metrics, "biller_unreconciled_paise", kind="in_bank_unknown") == 0

    def test_an_acknowledged_break_no_longer_counts(self, client, session):
        self._line(session, 3, "CMS-ACKED", 124_056)
        ack_break(
            session=session, key="settled_not_in_bank:setu:CMS-ACKED", note="credited late", by="asha", now=utcnow()
        )
        session.flush()

        metrics = scrape(client)

        assert value(metrics, "biller_unreconciled_paise", kind="settled_not_in_bank") == 0
