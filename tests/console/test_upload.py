"""The Upload page: an operator sends a file, sees the check (counts, changes, rejects and their download), then
confirms; the write is the command's own (``bills upload``), recorded and audited. A viewer is refused.

Here the background work runs inline (the browser tests run it in serve's thread); the page is the same.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import subprocess
import sys

import pytest
import sqlalchemy as sa

from biller_server.console import uploads
from biller_server.domain.india import india_today
from biller_server.domain.upload import COLUMNS, UploadBusy
from biller_server.persistence.models import AuditEntry, Bill, BillUpload, BillUploadState
from tests.console.conftest import form_token
from tests.factories import BillFactory, CustomerFactory

HEADER = ",".join(COLUMNS)


def bill_file(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def row(bill_id: str, amount: str = "1500.00", customer: str = "CUST9001", name: str = "Asha Devi") -> str:
    generated = india_today().replace(day=1)
    due = india_today() + dt.timedelta(days=10)
    return f"{customer},{name},9876543210,LN-{customer},{bill_id},Instalment,{amount},{due},{generated},EXACT,,"


@pytest.fixture(autouse=True)
def _inline(inline_uploads) -> None:
    pass


def send(client, content: bytes, name: str = "morning.csv", token: str | None = None, **fields: str):
    token = token if token is not None else form_token(client, "/console/uploads")
    data = {"csrf_token": token, "file": (io.BytesIO(content), name), **fields}
    return client.post("/console/uploads", data=data, content_type="multipart/form-data")


def confirm(client, location: str):
    token = form_token(client, location)
    return client.post(f"{location}/confirm", data={"csrf_token": token})


def test_an_operator_sees_the_check_with_its_rejects_then_confirms_and_the_bills_are_written(signed_in, session):
    client = signed_in("operator")
    content = bill_file(row("UP-0001"), row("UP-0002", amount="twelve"), row("UP-0003", customer="CUST9002"))

    sent = send(client, content)

    assert sent.status_code == 302
    location = sent.headers["Location"]
    page = client.get(location).text
    assert "Checked: nothing is written yet" in page
    assert re.search(r"Bills created</div><div class=\"figure\">2<", page)
    assert re.search(r"Rejected</div><div class=\"figure\">1<", page)
    assert "UP-0001 new: 1,500.00 due" in page  # the change list, as `bills upload --dry-run` words it
    assert "amount: &#39;twelve&#39; is not an amount" in page and "Download the rejects file" in page
    assert session.scalar(sa.select(sa.func.count()).select_from(Bill)) == 0

    with client.get(f"{location}/rejects") as rejects:
        assert rejects.status_code == 200 and "attachment" in rejects.headers["Content-Disposition"]
        (refused,) = list(csv.DictReader(io.StringIO(rejects.data.decode("utf-8-sig"))))
    assert refused["partner_bill_id"] == "UP-0002" and refused["upload_line"] == "3"

    confirmed = confirm(client, location)

    assert confirmed.status_code == 302
    page = client.get(location).text
    assert "finished: 2 bill(s) created, 0 updated" in page
    session.expire_all()
    assert sorted(session.scalars(sa.select(Bill.partner_bill_id))) == ["UP-0001", "UP-0003"]
    upload = session.scalars(sa.select(BillUpload)).one()
    assert (upload.state, upload.operator, upload.bills_created, upload.rejected) == (
        BillUploadState.FINISHED,
        "console:operator",
        2,
        1,
    )
    actions = [
        (entry.action, entry.outcome, entry.actor)
        for entry in session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action != "sign_in").order_by(AuditEntry.id)
        )
    ]
    assert actions == [
        ("check_bill_file", "ok", "operator"),
        ("download_rejects", "ok", "operator"),
        ("upload_bills", "ok", "operator"),
    ]


def test_an_upload_changes_a_bill_and_the_change_list_says_how(signed_in, session):
    BillFactory(
        partner_bill_id="UP-0009", amount_paise=100_000, customer=CustomerFactory(lender_customer_id="CUST9001")
    )
    client = signed_in("operator")

    location = send(client, bill_file(row("UP-0009", amount="1250.00"))).headers["Location"]

    assert "UP-0009 amount 1,000.00 → 1,250.00" in client.get(location).text
    confirm(client, location)
    session.expire_all()
    assert session.scalars(sa.select(Bill).where(Bill.partner_bill_id == "UP-0009")).one().amount_paise == 125_000


def test_a_second_confirmation_writes_nothing_more(signed_in, session):
    client = signed_in("operator")
    location = send(client, bill_file(row("UP-0001"))).headers["Location"]
    confirm(client, location)

    again = confirm(client, location)

    assert "not waiting for confirmation" in client.get(again.headers["Location"]).text
    assert session.scalar(sa.select(sa.func.count()).select_from(BillUpload)) == 1


def test_a_write_that_could_not_run_says_why_and_can_be_confirmed_again(signed_in, session, monkeypatch):
    client = signed_in("operator")
    location = send(client, bill_file(row("UP-0001"))).headers["Location"]
    real = uploads.upload_file

    def busy(*args, dry_run, **kwargs):
        if not dry_run:
            raise UploadBusy("another bill upload is writing to this database (#7, big.csv, by ravi): wait for it")
        return real(*args, dry_run=dry_run, **kwargs)

    monkeypatch.setattr(uploads, "upload_file", busy)
    confirm(client, location)

    page = client.get(location).text
    assert "The upload stopped: another bill upload is writing to this database (#7, big.csv, by ravi)" in page
    assert "Confirm again to finish it." in page
    failed = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "upload_bills")).one()
    assert failed.outcome == "failed" and "another bill upload" in failed.detail["error"]

    monkeypatch.setattr(uploads, "upload_file", real)
    confirm(client, location)

    assert "finished: 1 bill(s) created" in client.get(location).text
    session.expire_all()
    assert session.scalars(sa.select(Bill.partner_bill_id)).all() == ["UP-0001"]


def test_a_write_whose_process_died_says_so_instead_of_waiting(signed_in, session, tmp_path):
    client = signed_in("operator")
    location = send(client, bill_file(row("UP-0001"))).headers["Location"]
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a process id that no longer runs
    state = next((tmp_path / "instance" / "console-uploads").iterdir()) / "state.json"
    job = json.loads(state.read_text())
    state.write_text(json.dumps({**job, "phase": "write", "state": "running", "stage": "writing", "pid": gone.pid}))

    page = client.get(location).text

    assert "The server process running this upload stopped before it finished" in page
    assert "biller-server bills upload --resume" in page
    assert 'http-equiv="refresh"' not in page


def test_a_running_check_refreshes_its_page(signed_in, session, tmp_path):
    client = signed_in("operator")
    location = send(client, bill_file(row("UP-0001"))).headers["Location"]
    state = next((tmp_path / "instance" / "console-uploads").iterdir()) / "state.json"
    job = json.loads(state.read_text())
    state.write_text(json.dumps({**job, "state": "running", "check": None, "read": 50, "size": 200}))

    page = client.get(location).text

    assert '<meta http-equiv="refresh" content="2">' in page
    assert '<progress max="100" value="25"' in page and "50 of 200 bytes read (25%)" in page


def test_a_file_that_changes_nothing_offers_no_confirmation(signed_in, session):
    client = signed_in("operator")
    location = send(client, bill_file(row("UP-0001"))).headers["Location"]
    confirm(client, location)

    page = client.get(send(client, bill_file(row("UP-0001"))).headers["Location"]).text

    assert "Nothing to write" in page and "/confirm" not in page


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("statement.pdf", b"%PDF-1.4 binary", "statement.pdf is not a CSV file (.csv) or an Excel workbook (.xlsx)"),
        ("old.xls", b"\xd0\xcf\x11\xe0", "old.xls is an old Excel file (.xls)"),
    ],
)
def test_a_file_of_another_kind_gets_one_clear_message(signed_in, session, name, content, message):
    response = send(signed_in("operator"), content, name=name)

    assert response.status_code == 400
    assert message in response.text
    assert "Traceback" not in response.text


def test_a_binary_file_named_csv_gets_one_clear_message(signed_in, session):
    client = signed_in("operator")

    location = send(client, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", name="photo.csv").headers["Location"]

    page = client.get(location).text
    assert "The file was not checked: photo.csv" in page
    assert "/confirm" not in page


def test_a_workbook_is_checked_too(signed_in, session):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER.split(","))
    sheet.append(row("UP-0101").split(","))
    buffer = io.BytesIO()
    workbook.save(buffer)
    client = signed_in("operator")

    page = client.get(send(client, buffer.getvalue(), name="bills.xlsx").headers["Location"]).text

    assert re.search(r"Bills created</div><div class=\"figure\">1<", page)


def test_no_file_is_refused_with_a_message(signed_in, session):
    client = signed_in("operator")
    token = form_token(client, "/console/uploads")

    response = client.post("/console/uploads", data={"csrf_token": token}, content_type="multipart/form-data")

    assert response.status_code == 400 and "Choose a file to upload" in response.text


def test_a_wrong_column_name_mapping_is_refused_with_a_message(signed_in, session):
    response = send(signed_in("operator"), bill_file(row("UP-0001")), columns="price=EMI")

    assert response.status_code == 400 and "columns: &#39;price&#39; is not one of our columns" in response.text


def test_a_viewer_sees_the_uploads_but_not_the_form(signed_in, session):
    page = signed_in("viewer").get("/console/uploads").text

    assert "Latest uploads" in page and 'action="/console/uploads"' not in page


def test_a_viewer_posting_a_file_by_hand_is_refused_and_nothing_is_kept(signed_in, session, tmp_path):
    response = send(signed_in("viewer"), bill_file(row("UP-0001")))

    assert response.status_code == 403
    assert not (tmp_path / "instance" / "console-uploads").exists()
    refused = session.scalars(sa.select(AuditEntry).where(AuditEntry.outcome == "refused")).one()
    assert (refused.actor, refused.action) == ("viewer", "upload_bills")


def test_a_viewer_confirming_by_hand_is_refused(signed_in, session):
    location = send(signed_in("operator"), bill_file(row("UP-0001"))).headers["Location"]
    viewer = signed_in("viewer")

    response = viewer.post(f"{location}/confirm", data={"csrf_token": form_token(viewer, location)})

    assert response.status_code == 403
    assert session.scalar(sa.select(sa.func.count()).select_from(Bill)) == 0


def test_an_upload_without_the_form_token_is_refused(signed_in, session):
    response = send(signed_in("operator"), bill_file(row("UP-0001")), token="")

    assert response.status_code == 400


def test_an_unknown_upload_is_not_found(signed_in, session):
    client = signed_in("viewer")

    assert client.get("/console/uploads/" + "A" * 24).status_code == 404
    assert client.get("/console/uploads/..%2F..%2Fetc").status_code == 404


def test_the_upload_path_takes_a_file_larger_than_a_partner_call(signed_in, session, app):
    big = bill_file(*(row(f"UP-{n:05d}", customer=f"C{n:05d}") for n in range(1500)))
    assert len(big) > app.config["MAX_CONTENT_LENGTH"]

    response = send(signed_in("operator"), big)

    assert response.status_code == 302


def test_a_partner_path_keeps_its_own_cap(app, session):
    response = app.test_client().post(
        "/bills/fetchBills", data=b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1), content_type="application/json"
    )

    assert response.status_code == 413


class TestTheConsoleCap:
    @pytest.fixture
    def settings_overrides(self, settings_overrides):
        return {**settings_overrides, "console_upload_max_bytes": 64 * 1024}

    def test_a_file_over_the_console_s_cap_gets_a_page_saying_so(self, signed_in, session, tmp_path):
        big = bill_file(*(row(f"UP-{n:05d}", customer=f"C{n:05d}") for n in range(1000)))
        assert len(big) > 64 * 1024

        response = send(signed_in("operator"), big)

        assert response.status_code == 413 and response.mimetype == "text/html"
        assert "The file is larger than the console takes (0.0625 MiB)" in response.text
        assert not (tmp_path / "instance" / "console-uploads").exists()
