"""PostgreSQL goes away mid-load: every endpoint answers its documented "temporarily unavailable" within 2 s (no
hang, no stack trace) and the server recovers by itself when the database returns.

The outage is staged by cutting a TCP proxy between the server and PostgreSQL: to the server it is exactly a
stopped database (connections dropped, new ones refused), while the PostgreSQL that other tests share keeps running.
"""

import time

import pytest
import requests
from sqlalchemy.engine import make_url

from tests.conftest import DIGILEDGE_KEY, KALEIDOFIN_KEY
from tests.factories import BillFactory, CustomerFactory
from tests.reliability.conftest import seed
from tests.reliability.live import CuttableProxy, LiveServer

pytestmark = [pytest.mark.parametrize("backend", ["postgresql"]), pytest.mark.slow]

FETCH = ("/bills/fetchBills", [{"identifierKey": "customerId", "identifierValue": "OUT-1"}], KALEIDOFIN_KEY)
NOTIFY = (
    "/digiledge/payment-notification",
    {
        "refId": "OUT-REF",
        "status": "Successful",
        "reason": "",
        "ack": {"msgId": "M1", "rspCd": "000", "ts": "2026-11-23T10:15:00+05:30"},
    },
    DIGILEDGE_KEY,
)


def receipt(n):
    return (
        "/bills/fetchReceipt",
        {
            "systemBillId": n,
            "partnerBillId": f"OUT-BILL-{n}",
            "paymentDetails": {"billAmount": 1000, "amountPaid": 1000, "transactionId": f"OUT-TXN-{n}"},
        },
        KALEIDOFIN_KEY,
    )


def timed(server, call):
    path, body, key = call
    started = time.monotonic()
    response = server.post(path, body, key=key, timeout=10)
    return response, time.monotonic() - started


@pytest.fixture
def proxied(live_database_url):
    url = make_url(live_database_url)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432).start()
    try:
        yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    finally:
        proxy.close()


def test_outage_is_a_fast_503_in_each_channels_shape_and_recovery_is_automatic(backend, proxied, live_engine, tmp_path):
    proxy, url = proxied
    server = LiveServer(url, tmp_path / "server.log", workers=2, threads=8, with_worker=False).start()
    try:

        def build():
            customer = CustomerFactory(lender_customer_id="OUT-1")
            for n in range(40):
                BillFactory(customer=customer, partner_bill_id=f"OUT-BILL-{n}", amount_paise=100_000)

        seed(live_engine, build)
        assert timed(server, FETCH)[0].status_code == 200
        assert timed(server, receipt(0))[0].status_code == 200

        proxy.cut()
        slowest = 0.0
        for n in range(1, 11):
            for call in (FETCH, receipt(n), NOTIFY):
                response, took = timed(server, call)
                slowest = max(slowest, took)
                assert response.status_code == 503, (call[0], response.status_code, response.text[:200])
                assert b"Traceback" not in response.content
                if call[0].startswith("/bills/"):
                    assert response.json()["error"]["code"] == "service-unavailable"
                else:
                    assert response.json() == {
                        "reason": response.json()["reason"],
                        "code": 503,
                        "status": "TEMPORARILY_UNAVAILABLE",
                    }
        assert slowest < 2.0
        assert requests.get(f"{server.base_url}/readyz", timeout=5).status_code == 503
        assert requests.get(f"{server.base_url}/healthz", timeout=5).status_code == 200

        proxy.restore()
        deadline = time.monotonic() + 15
        recovered = None
        while time.monotonic() < deadline:
            recovered = timed(server, receipt(20))[0]
            if recovered.status_code == 200:
                break
            time.sleep(0.2)
        assert recovered is not None and recovered.status_code == 200
        assert timed(server, FETCH)[0].status_code == 200
        print(f"outage scenario: 30 requests during the outage, all 503, slowest {slowest:.3f} s; recovered")
    finally:
        server.stop()
