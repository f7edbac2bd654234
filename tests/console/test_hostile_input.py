"""Hostile input to the console's forms: whatever is typed, or stored by a partner or an upload, is shown as
text (escaped), and bad values get a page saying what is wrong, never a 500."""

import pytest
import sqlalchemy as sa

from biller_server.persistence.models import AuditEntry, InboundMessage
from tests.console.conftest import PASSWORD, form_token
from tests.factories import BillFactory, CustomerFactory

SCRIPT = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"


def test_a_script_in_the_search_box_is_shown_as_text(signed_in):
    page = signed_in("viewer").get("/console/find", query_string={"q": SCRIPT}).text

    assert SCRIPT not in page
    assert ESCAPED in page


def test_a_script_as_a_sign_in_name_is_shown_as_text_in_the_audit_log(app, signed_in):
    stranger = app.test_client()
    stranger.post(
        "/console/sign-in", data={"csrf_token": form_token(stranger), "name": SCRIPT, "password": "whatever-123"}
    )

    page = signed_in("admin").get("/console/audit").text

    assert SCRIPT.lower() not in page
    assert "&lt;script&gt;" in page


def test_a_script_in_a_note_is_shown_as_text(signed_in, session):
    BillFactory(partner_bill_id="TEST-124")
    client = signed_in("operator")
    client.post(
        "/console/bills/cancel",
        data={
            "csrf_token": form_token(client, "/console/bills/TEST-124"),
            "partner_bill_id": "TEST-124",
            "note": SCRIPT,
        },
    )

    for path in ("/console/bills/TEST-124", "/console/audit"):
        page = client.get(path).text
        assert SCRIPT not in page and ESCAPED in page


def test_a_script_in_a_bill_id_posted_by_hand_is_shown_as_text(signed_in):
    client = signed_in("operator")
    response = client.post(
        "/console/bills/cancel",
        data={"csrf_token": form_token(client, "/console/today"), "partner_bill_id": SCRIPT, "note": "by hand"},
    )

    page = client.get(response.headers["Location"]).text
    assert SCRIPT not in page and "&lt;script&gt;" in page


def test_what_partners_and_uploads_stored_is_shown_as_text(signed_in, session):
    customer = CustomerFactory(lender_customer_id="AY1234", name=SCRIPT)
    BillFactory(customer=customer, partner_bill_id="TEST-124", name=SCRIPT)
    message = InboundMessage(
        channel="kaleidofin",
        method="POST",
        path="/bills/fetchReceipt",
        request_id=SCRIPT,
        headers={"X-Evil": SCRIPT},
        body=SCRIPT.encode(),
        status_code=400,
        outcome="rejected",
        partner_ref="AY1234",
    )
    session.add(message)
    session.flush()
    client = signed_in("viewer")

    for path in ("/console/customers/AY1234", "/console/bills/TEST-124", f"/console/inbound/{message.id}"):
        page = client.get(path).text
        assert SCRIPT not in page, path
        assert "&lt;script&gt;" in page, path


@pytest.mark.parametrize(
    "query",
    [
        "q=a&q=b",  # a field sent twice
        "q=%00abc",  # a NUL character
        "q=" + "x" * 101,  # over the longest reference
        "q=x&days=0",
        "q=x&days=abc",
        "q=x&days=99999999999999999999999",
    ],
)
def test_a_bad_search_gets_a_page_saying_what_is_wrong(signed_in, query):
    response = signed_in("viewer").get(f"/console/find?{query}")

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert 'class="flash error"' in response.text


@pytest.mark.parametrize("date", ["2026-13-01", "yesterday", "%00", "2026-11-02T00:00"])
def test_a_bad_report_day_is_a_400_page(signed_in, date):
    for path in ("/console/reports/daily", "/console/reports/daily.csv"):
        response = signed_in("viewer").get(path, query_string={"date": date})

        assert response.status_code == 400
        assert response.mimetype == "text/html"


@pytest.mark.parametrize(
    "fields",
    [
        {"name": ["viewer", "admin"], "password": PASSWORD},
        {"name": "viewer\x00", "password": PASSWORD},
        {"name": "v" * 65, "password": PASSWORD},
        {"name": "viewer", "password": "p" * 257},
        {"name": "viewer"},
    ],
)
def test_a_malformed_sign_in_is_refused_with_a_page(app, staff, session, fields):
    client = app.test_client()

    response = client.post("/console/sign-in", data={"csrf_token": form_token(client), **fields})

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert client.get("/console/today").status_code == 302
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0
