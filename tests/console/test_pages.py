"""What each page shows a signed-in person, read through the same domain functions as the CLI."""

import datetime as dt
import json
import re

import pytest

from biller_server.domain.india import india_today
from biller_server.jobs.heartbeats import beat
from biller_server.persistence.models import (
    Channel,
    InboundMessage,
    Job,
    JobKind,
    JobState,
    OutboundCall,
    PaymentEvent,
    PaymentStatus,
)
from tests.factories import BillFactory, CustomerFactory, PaymentFactory, ReceiptFactory

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def books(session):
    """A customer with two bills; one paid in part today by Kaleidofin, with its receipt, job, call and event."""
    customer = CustomerFactory(lender_customer_id="AY1234", name="Vishakha", mobile="9876543210")
    paid = BillFactory(customer=customer, partner_bill_id="TEST-124", amount_paise=125_000_050, paid_paise=50_000)
    BillFactory(customer=customer, partner_bill_id="TESTING-002", amount_paise=100_000)
    payment = PaymentFactory(
        bill=paid, partner_txn_ref="TXN-QUICK-0001", amount_paise=50_000, paid_at=NOW, status=PaymentStatus.RECEIVED
    )
    ReceiptFactory(payment=payment, receipt_number="RCPT0000000042")
    job = Job(
        kind=JobKind.CONFIRM_PAYMENT, partner="kaleidofin", payment_id=payment.id, payload={}, anchor_at=NOW, due_at=NOW
    )
    session.add(job)
    session.flush()
    session.add_all(
        [
            OutboundCall(
                job_id=job.id,
                partner="kaleidofin",
                operation="status",
                method="GET",
                url="https://k.example/s/14",
                response_status=503,
                error="HTTP 503",
                created_at=NOW,
            ),
            PaymentEvent(payment_id=payment.id, kind="recorded", to_status="RECEIVED", source="kaleidofin"),
            InboundMessage(
                channel="kaleidofin",
                method="POST",
                path="/bills/fetchReceipt",
                request_id="r1",
                headers={},
                body=json.dumps({"paymentDetails": {"transactionId": "TXN-QUICK-0001"}}).encode(),
                status_code=200,
                outcome="receipt_issued",
                partner_ref="TXN-QUICK-0001",
                received_at=NOW,
            ),
        ]
    )
    session.flush()
    return payment


def test_today_shows_the_day_s_collections_states_and_partner_health(signed_in, books):
    page = signed_in("viewer").get("/console/today").text

    assert f"Today, {india_today().isoformat()}" in page
    assert "₹500.00" in page  # collected, and awaiting confirmation
    assert "<svg" in page and "<rect" in page  # the chart, drawn on the server
    assert "kaleidofin: 1 payment(s), ₹500.00" in page
    assert "HTTP 503" in page  # the last error of the partner's status API


def test_today_shows_each_worker_s_heartbeat_and_a_stale_one_in_red(signed_in, books, session):
    now = dt.datetime.now(dt.UTC)  # the page reads the clock: a module-wide NOW goes stale in a long run
    beat(session=session, name="host-a:1", host="host-a", pid=1, started_at=now, last_poll_at=now)
    late = now - dt.timedelta(minutes=10)
    beat(session=session, name="host-b:2", host="host-b", pid=2, started_at=late, last_poll_at=late)
    session.flush()

    page = signed_in("viewer").get("/console/today").text

    fresh, stale = re.search(r"host-a:1.*?</tr>", page, re.S).group(0), re.search(r"host-b:2.*?</tr>", page, re.S)
    assert "OK" in fresh and "STALE" not in fresh
    assert "STALE" in stale.group(0) and "over 120 s" in stale.group(0)
    assert '<tr class="bad">\n      <td>host-b:2' in page


def test_today_says_when_no_worker_polls(signed_in, books):
    page = signed_in("viewer").get("/console/today").text

    assert "No worker has polled the queue in the last day" in page


def test_today_shows_how_long_each_partner_has_been_silent(signed_in, books):
    page = signed_in("viewer").get("/console/today").text

    kaleidofin = re.search(r"<tr><td>kaleidofin</td>.*?</tr>", page, re.S).group(0)
    digiledge = re.search(r"<tr><td>digiledge</td>.*?</tr>", page, re.S).group(0)
    assert "IST" in kaleidofin and re.search(r'class="num">\d+</td>', kaleidofin)
    assert "never" in digiledge


def test_today_lists_our_calls_that_got_no_usable_answer_with_their_payment(signed_in, books):
    page = signed_in("viewer").get("/console/today").text

    line = re.search(r"<li>[^<]*kaleidofin <code>status</code>.*?</li>", page, re.S).group(0)
    assert f"payment #{books.id}" in line and "HTTP 503" in line


def test_today_lists_what_needs_a_person(signed_in, books, session):
    books.status = PaymentStatus.UNRESOLVED
    books.status_reason = "no final answer within a day"
    session.add(
        Job(
            kind=JobKind.DELIVER_WEBHOOK,
            partner="webhook",
            payload={},
            anchor_at=NOW,
            due_at=NOW,
            state=JobState.STOPPED,
            last_error="HTTP 422 from the lender",
        )
    )
    session.flush()

    page = signed_in("viewer").get("/console/today").text

    assert "Unresolved payments (1)" in page and "no final answer within a day" in page
    assert "Stopped jobs (1)" in page and "HTTP 422 from the lender" in page


@pytest.mark.parametrize(
    "reference",
    ["AY1234", "9876543210", "+91 98765 43210", "TEST-124", "TXN-QUICK-0001", "RCPT0000000042", "LAN-FIND-1"],
)
def test_find_takes_any_reference_to_the_payment(signed_in, books, reference, session):
    books.bill.loan_account_number = "LAN-FIND-1"
    session.flush()

    page = signed_in("viewer").get("/console/find", query_string={"q": reference}).text

    assert f'href="/console/payments/{books.id}"' in page


def test_find_finds_a_partner_call_by_text_in_its_body(signed_in, books, session):
    session.add(
        InboundMessage(
            channel="digiledge",
            method="POST",
            path="/digiledge/payment-notification",
            request_id="r2",
            headers={},
            body=b'{"refId": "NEVER-RECORDED-77", "bad": true}',
            status_code=400,
            outcome="rejected",
            received_at=NOW,
        )
    )
    session.flush()

    page = signed_in("viewer").get("/console/find?q=NEVER-RECORDED-77").text

    assert "Partner calls (1)" in page and "/digiledge/payment-notification" in page


def test_find_says_when_partner_call_bodies_were_not_searched(signed_in, books):
    page = signed_in("viewer").get("/console/find?q=TXN-QUICK-0001").text

    assert "Partner calls&#39; bodies were not searched" in page or "Partner calls' bodies were not searched" in page


def test_find_says_plainly_when_nothing_carries_the_reference(signed_in, books):
    page = signed_in("viewer").get("/console/find?q=UNKNOWN-REF-1").text

    assert "Nothing carries <code>UNKNOWN-REF-1</code>" in page


def test_the_payment_page_shows_its_bill_receipt_events_jobs_and_calls(signed_in, books):
    page = signed_in("viewer").get(f"/console/payments/{books.id}").text

    assert "TEST-124" in page and "RCPT0000000042" in page
    assert "confirm_payment" in page and "https://k.example/s/14" in page and "HTTP 503" in page
    assert "recorded" in page and "/bills/fetchReceipt" in page
    assert "₹12,49,500.50" in page  # the bill's balance, grouped the Indian way, to the paisa


def test_the_payment_page_offers_a_viewer_no_action(signed_in, books):
    page = signed_in("viewer").get(f"/console/payments/{books.id}").text

    assert 'method="post"' not in page.split("</header>", 1)[1]


def test_the_payment_page_offers_an_admin_the_operators_actions(signed_in, books):
    page = signed_in("admin").get(f"/console/payments/{books.id}").text

    assert f"/console/payments/{books.id}/resolve" in page


def test_the_customer_page_shows_each_bill_with_its_balance_and_payments(signed_in, books):
    page = signed_in("viewer").get("/console/customers/AY1234").text

    assert "Vishakha" in page and "TESTING-002" in page and "TEST-124" in page
    assert "₹12,50,500.50" in page  # still owed on both bills
    assert "TXN-QUICK-0001" in page


def test_a_partner_call_is_shown_whole(signed_in, books, session):
    message = session.query(InboundMessage).filter_by(partner_ref="TXN-QUICK-0001").one()

    page = signed_in("viewer").get(f"/console/inbound/{message.id}").text

    assert '"transactionId": "TXN-QUICK-0001"' in page.replace("&#34;", '"')


@pytest.mark.parametrize("path", ["/console/payments/999999", "/console/customers/NOBODY", "/console/bills/NO-BILL"])
def test_what_does_not_exist_is_a_404_page(signed_in, books, path):
    response = signed_in("viewer").get(path)

    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_the_daily_report_for_a_chosen_day_with_its_csv(signed_in, books):
    client = signed_in("viewer")
    day = india_today().isoformat()

    page = client.get(f"/console/reports/daily?date={day}").text
    csv_file = client.get(f"/console/reports/daily.csv?date={day}")

    assert f"Daily report, {day}" in page and "₹500.00" in page
    assert csv_file.mimetype == "text/csv"
    assert csv_file.headers["Content-Disposition"] == f"attachment; filename=daily-report-{day}.csv"
    assert csv_file.text.splitlines()[0] == "section,channel,measure,count,amount"
    assert "payments,kaleidofin,received,1,500.00" in csv_file.text


def test_a_csv_download_is_in_the_audit_log(signed_in, books):
    client = signed_in("viewer")
    client.get("/console/reports/daily.csv?date=2026-11-02")

    page = client.get("/console/audit").text

    assert "download_daily_report" in page and "report:2026-11-02" in page


def test_every_page_forbids_script_framing_and_caching(signed_in, books):
    response = signed_in("viewer").get("/console/today")

    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script" not in response.text


def test_every_asset_a_page_names_is_served_from_the_package(signed_in, books):
    client = signed_in("viewer")
    page = client.get("/console/today").text

    for asset in ("/console/static/console.css", "/console/static/favicon.svg"):
        assert f'href="{asset}"' in page
        with client.get(asset) as response:
            assert response.status_code == 200
    assert "http://" not in page and "https://" not in page.replace("https://k.example", "")


def test_channels_are_listed_for_every_kind_of_payment(signed_in, books):
    page = signed_in("viewer").get("/console/today").text

    for channel in Channel:
        assert f"<td>{channel.value}</td>" in page


def test_an_unresolved_payment_whose_post_may_have_landed_says_so_on_today_and_its_page(signed_in, session):
    payment = PaymentFactory(channel=Channel.OFFLINE, partner_txn_ref="OFF-CONSOLE-1", status=PaymentStatus.UNRESOLVED)
    job = Job(
        kind=JobKind.RECORD_OFFLINE_PAYMENT,
        partner="kaleidofin",
        payment_id=payment.id,
        payload={"post_attempted_at": "2026-11-02T08:35:00+00:00"},
        anchor_at=NOW,
        due_at=NOW,
        state=JobState.UNRESOLVED,
    )
    session.add(job)
    session.flush()
    session.add(
        OutboundCall(
            job_id=job.id,
            created_at=dt.datetime(2026, 11, 2, 8, 35, tzinfo=dt.UTC),
            partner="kaleidofin",
            operation="payment",
            method="POST",
            url="https://k.example/payment",
            request_body="{}",
        )
    )
    session.flush()
    client = signed_in("viewer")

    today = client.get("/console/today").text
    page = client.get(f"/console/payments/{payment.id}").text

    assert "a post may have landed at 14:05 (IST) on 02 Nov 2026" in today
    assert "a post may have landed at 14:05 (IST) on 02 Nov 2026" in page
