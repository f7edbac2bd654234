"""Hostile input to the console's forms: whatever is typed, or stored by a partner or an upload, is shown as
text (escaped), and bad values get a page saying what is wrong, never a 500."""

import datetime as dt
import io
import re

import pytest
import sqlalchemy as sa

from biller_server.domain.india import india_today
from biller_server.domain.upload import COLUMNS
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


BILL_ACTIONS = pytest.mark.parametrize(("action", "note"), [("cancel", "note"), ("close", "reason")])


@BILL_ACTIONS
def test_a_script_in_a_note_is_shown_as_text(signed_in, session, action, note):
    BillFactory(partner_bill_id="TEST-124")
    client = signed_in("operator")
    client.post(
        f"/console/bills/{action}",
        data={"csrf_token": form_token(client, "/console/bills/TEST-124"), "partner_bill_id": "TEST-124", note: SCRIPT},
    )

    for path in ("/console/bills/TEST-124", "/console/audit"):
        page = client.get(path).text
        assert SCRIPT not in page and ESCAPED in page, path


@BILL_ACTIONS
def test_a_script_in_a_bill_id_posted_by_hand_is_shown_as_text(signed_in, action, note):
    client = signed_in("operator")
    response = client.post(
        f"/console/bills/{action}",
        data={"csrf_token": form_token(client, "/console/today"), "partner_bill_id": SCRIPT, note: "by hand"},
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


# The upload and close forms ------------------------------------------------------------------------------------


@pytest.fixture
def uploads(inline_uploads, tmp_path):
    return tmp_path / "instance" / "console-uploads"


def _send(client, content: bytes, name: str = "bills.csv", **fields):
    token = form_token(client, "/console/uploads")
    return client.post(
        "/console/uploads",
        data={"csrf_token": token, "file": (io.BytesIO(content), name), **fields},
        content_type="multipart/form-data",
    )


def _bill_file() -> bytes:
    generated, due = india_today().replace(day=1), india_today() + dt.timedelta(days=10)
    rows = [",".join(COLUMNS), f"CUST1,Asha,9876543210,LN-1,UP-1,Instalment,1500.00,{due},{generated},EXACT,,"]
    return ("\n".join(rows) + "\n").encode()


def test_a_file_name_with_markup_is_shown_as_text_and_never_used_as_a_path(signed_in, uploads, session):
    name = "../../<img src=x onerror=alert(1)>.csv"
    client = signed_in("operator")

    location = _send(client, _bill_file(), name=name).headers["Location"]

    for path in (location, "/console/uploads", "/console/audit"):
        page = client.get(path).text
        assert "<img src=x" not in page, path
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in client.get(location).text
    (folder,) = uploads.iterdir()
    (stored,) = [path.name for path in folder.iterdir() if path.suffix == ".csv" and path.name != "rejects.csv"]
    assert re.fullmatch(r"[A-Za-z0-9_.-]+\.csv", stored)  # inside the upload's own folder, made safe


def test_scripts_in_the_file_s_cells_are_shown_as_text_in_the_changes_and_rejects(signed_in, uploads, session):
    script = "<script>alert('x')</script>"
    generated, due = india_today().replace(day=1), india_today() + dt.timedelta(days=10)
    content = "\n".join(
        [
            ",".join(COLUMNS),
            f"CUST1,{script},9876543210,LN-1,UP-1,{script},1500.00,{due},{generated},EXACT,,",  # a change
            f"CUST2,Ravi,9876543211,LN-2,UP-2,Instalment,{script},{due},{generated},EXACT,,",  # a reject
        ]
    ).encode()
    client = signed_in("operator")

    page = client.get(_send(client, content).headers["Location"]).text

    assert "<script>" not in page
    changes = page[page.index("What would change") :]
    rejects = page[page.index("Rejected rows and conflicts") : page.index("What would change")]
    assert "customer CUST1 new: &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in changes
    assert "amount: &#34;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#34; is not an amount" in rejects


def test_scripts_in_the_upload_options_are_shown_back_as_text(signed_in, uploads, session):
    response = _send(signed_in("operator"), _bill_file(), sheet=SCRIPT, columns=f"amount={SCRIPT}\nprice={SCRIPT}")

    assert response.status_code == 400
    assert SCRIPT not in response.text and ESCAPED in response.text


@pytest.mark.parametrize(
    "fields",
    [
        {"date_order": "ymd"},
        {"date_order": SCRIPT},
        {"sheet": "Bills\x00"},
        {"sheet": "s" * 101},
        {"columns": "amount=x\n" * 500},
        {"columns": "no equals sign"},
    ],
)
def test_bad_upload_options_get_a_page_saying_what_is_wrong(signed_in, uploads, session, fields):
    response = _send(signed_in("operator"), _bill_file(), **fields)

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert 'class="flash error" role="alert"' in response.text
    assert not uploads.exists()


def test_two_files_at_once_are_refused(signed_in, uploads, session):
    client = signed_in("operator")
    token = form_token(client, "/console/uploads")

    response = client.post(
        "/console/uploads",
        data={"csrf_token": token, "file": [(io.BytesIO(_bill_file()), "a.csv"), (io.BytesIO(_bill_file()), "b.csv")]},
        content_type="multipart/form-data",
    )

    assert response.status_code == 400 and "send one file at a time" in response.text
