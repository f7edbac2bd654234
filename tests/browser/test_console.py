"""The operations console in a real browser, with no way out of the host: sign in, lock-out, find a payment by a
mobile number, the pages a person reads, an operator's actions (cancel, close, a bill upload checked, its rejects
downloaded, confirmed and written in the background) and a viewer refused, a form without its token.

Each page is photographed (``docs/images/console/``, shown in docs/console.md):
``BILLER_SCREENSHOT_DIR=docs/images .venv/bin/pytest tests/browser/test_console.py`` refreshes them.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from biller_server.domain.india import india_today
from biller_server.domain.upload import COLUMNS
from tests.browser.conftest import SAMPLE_BILLS, run_commands
from tests.conftest import KALEIDOFIN_KEY
from tests.reliability.live import BIN, LiveServer

PASSWORD = "correct-horse-battery"
MOBILE_AS_TOLD = "+91 77060 57010"  # the sample customer's mobile, as a customer reads it out


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``serve`` with the console enabled, the sample bills, an operator, a viewer and a payment made today."""
    tmp_path = tmp_path_factory.mktemp("console")
    env = {
        "BILLER_CONSOLE_ENABLED": "true",
        "BILLER_CONSOLE_SECRET_KEY": "browser-test-key-" + "x" * 32,
        "BILLER_CONSOLE_LOCKOUT_THRESHOLD": "3",
        "BILLER_INSTANCE_DIR": str(tmp_path / "instance"),
    }
    live = LiveServer(f"sqlite:///{tmp_path / 'biller.sqlite3'}", tmp_path / "serve.log", workers=1, env=env)
    live.start()
    try:
        run_commands(
            live,
            [
                (["bills", "upload", str(SAMPLE_BILLS)], None),
                (["users", "add", "asha", "--role", "operator", "--password-stdin"], PASSWORD),
                (["users", "add", "ravi", "--role", "viewer", "--password-stdin"], PASSWORD),
                (["users", "add", "meena", "--role", "viewer", "--password-stdin"], PASSWORD),
            ],
        )
        paid = live.post(
            "/bills/fetchReceipt",
            {
                "systemBillId": 14,
                "partnerBillId": "TESTING-002",
                "paymentDetails": {"billAmount": 1000, "amountPaid": 1000, "transactionId": "QUICKSTART-0001"},
            },
            key=KALEIDOFIN_KEY,
        )
        assert paid.status_code == 200, paid.text
        _wait_until_confirmed(live)
        yield live
    finally:
        live.stop()


def _wait_until_confirmed(live: LiveServer, timeout: float = 30) -> None:
    """The fake confirmer confirms the payment 5 s after it was made; the pictures show it confirmed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run([str(BIN), "payments", "list"], env=live.env, capture_output=True, text=True, check=False)
        if "CONFIRMED" in done.stdout:
            return
        time.sleep(0.5)
    raise AssertionError("the payment was not confirmed in time")


def sign_in(page, console, name: str, password: str = PASSWORD) -> None:
    page.goto(f"{console.base_url}/console/")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_an_operator_signs_in_and_sees_today(page, console, screenshot):
    sign_in(page, console, "asha")

    page.get_by_role("heading", name=re.compile(r"^Today, ")).wait_for()
    assert page.url == f"{console.base_url}/console/today"
    assert "₹1,000.00" in page.locator(".cards").inner_text()
    assert page.locator("figure.chart svg rect").count() >= 1  # the hour of the sample payment
    assert page.outside_requests == []
    screenshot(page, "console/today", full_page=True)


def test_the_pages_fit_a_tablet(browser, console, screenshot):
    context = browser.new_context(viewport={"width": 820, "height": 1180})
    try:
        page = context.new_page()
        sign_in(page, console, "asha")
        page.get_by_role("heading", name=re.compile(r"^Today, ")).wait_for()

        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")

        assert overflow <= 0  # wide tables scroll inside their box; the page never scrolls sideways
        screenshot(page, "console/today-tablet")
    finally:
        context.close()


def test_a_wrong_password_is_refused_then_the_name_is_locked(page, console, screenshot):
    sign_in(page, console, "meena", "not-the-password")
    assert page.get_by_role("alert").inner_text() == "Wrong name or password."

    sign_in(page, console, "meena", "still-not-it")
    sign_in(page, console, "meena", "nor-this-one")
    sign_in(page, console, "meena", PASSWORD)  # right, but the name is locked now

    alert = page.get_by_role("alert").inner_text()
    assert alert.startswith("Too many failed sign-ins for this name: try again after ") and "IST" in alert
    assert page.url.endswith("/console/sign-in")
    screenshot(page, "console/sign-in-locked")


def test_find_a_payment_by_the_customer_s_mobile_number(page, console, screenshot):
    sign_in(page, console, "ravi")

    page.get_by_role("searchbox", name="Find").fill(MOBILE_AS_TOLD)
    page.keyboard.press("Enter")

    page.get_by_role("heading", name=re.compile(r"^Payments \(")).wait_for()
    assert page.get_by_role("link", name="AY1234").first.is_visible()
    screenshot(page, "console/find", full_page=True)
    page.locator("a", has_text=re.compile(r"^#\d+$")).first.click()
    page.get_by_role("heading", name=re.compile(r"^Payment #\d+")).wait_for()
    text = page.locator("main").inner_text()
    assert "QUICKSTART-0001" in text and "CONFIRMED" in text and "/bills/fetchReceipt" in text
    assert page.outside_requests == []
    screenshot(page, "console/payment", full_page=True)


def test_the_customer_page_shows_bills_balances_and_payments(page, console, screenshot):
    sign_in(page, console, "ravi")
    page.goto(f"{console.base_url}/console/customers/AY1234")

    text = page.locator("main").inner_text()
    assert "TESTING-002" in text and "TEST-124" in text and "₹1,200.00" in text
    screenshot(page, "console/customer", full_page=True)


def test_an_operator_cancels_a_bill_and_the_audit_entry_appears(page, console, screenshot):
    sign_in(page, console, "asha")
    page.goto(f"{console.base_url}/console/bills/LN-2024-0002-03")
    assert "OPEN" in page.locator("h1").inner_text()

    page.get_by_label("Note").fill("Loan closed at the branch; no more instalments")
    page.get_by_role("button", name="Cancel bill LN-2024-0002-03").click()

    page.get_by_role("status").filter(has_text="Bill LN-2024-0002-03 is cancelled.").wait_for()
    assert "CANCELLED" in page.locator("h1").inner_text()
    audit_row = page.locator("tr", has_text="cancel_bill")
    assert "asha" in audit_row.inner_text() and "Loan closed at the branch" in audit_row.inner_text()
    screenshot(page, "console/bill-cancelled", full_page=True)


def test_a_viewer_is_not_offered_the_action_and_is_refused_when_posting_it_by_hand(page, console, screenshot):
    sign_in(page, console, "ravi")
    page.goto(f"{console.base_url}/console/bills/TEST-124")
    assert page.get_by_role("button", name=re.compile("^Cancel bill")).count() == 0
    token = page.locator("form.who input[name=csrf_token]").get_attribute("value")

    refused = page.request.post(
        f"{console.base_url}/console/bills/cancel",
        form={"csrf_token": token, "partner_bill_id": "TEST-124", "note": "by hand"},
        max_redirects=0,
    )

    assert refused.status == 403
    assert "Your role does not allow this" in refused.text()
    page.reload()
    assert "OPEN" in page.locator("h1").inner_text()
    page.goto(f"{console.base_url}/console/audit")
    assert "refused" in page.locator("tr", has_text="ravi").filter(has_text="cancel_bill").first.inner_text()
    screenshot(page, "console/audit", full_page=True)


def test_a_form_without_its_token_is_refused(page, console, screenshot):
    sign_in(page, console, "asha")
    page.goto(f"{console.base_url}/console/bills/TEST-124")

    cancel_form = page.locator("section.action", has_text="Cancel this bill")
    cancel_form.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    page.get_by_label("Note").fill("no token")
    page.get_by_role("button", name="Cancel bill TEST-124").click()

    assert page.get_by_role("heading", name="400: bad-request").is_visible()
    assert "not sent from a page of this console" in page.locator("main").inner_text()
    page.goto(f"{console.base_url}/console/bills/TEST-124")
    assert "OPEN" in page.locator("h1").inner_text()
    screenshot(page, "console/csrf-refused")


def test_the_daily_report_and_its_csv(page, console, screenshot):
    sign_in(page, console, "ravi")
    page.get_by_role("navigation").get_by_role("link", name="Reports").click()
    assert page.locator("input[name=date]").input_value() == (india_today() - dt.timedelta(days=1)).isoformat()
    page.locator("input[name=date]").fill(india_today().isoformat())
    page.get_by_role("button", name="Show").click()
    page.get_by_role("heading", name=f"Daily report, {india_today().isoformat()}").wait_for()
    assert "₹1,000.00" in page.locator("main").inner_text()

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()

    content = Path(download.value.path()).read_text(encoding="utf-8")
    assert content.splitlines()[0] == "section,channel,measure,count,amount"
    assert "payments,kaleidofin,confirmed,1,1000.00" in content
    screenshot(page, "console/report", full_page=True)


def test_the_console_leaves_the_partner_api_as_it_was(console):
    response = requests.post(
        f"{console.base_url}/bills/fetchBills",
        json=[{"identifierKey": "customerId", "identifierValue": "AY1234"}],
        headers={"X-API-Key": KALEIDOFIN_KEY},
        timeout=10,
    )

    assert response.status_code == 200 and "Set-Cookie" not in response.headers


def _bill_file(path: Path) -> Path:
    """A morning's file: TEST-124's amount changed, a new customer's bill, and a row whose amount is not one."""
    generated, due = india_today().replace(day=1), india_today() + dt.timedelta(days=20)
    dates = f"{due:%d/%m/%Y},{generated:%d/%m/%Y},EXACT"
    rows = [
        "Customer ID,Customer Name,Mobile No,Loan A/c No,EMI ID,Description,EMI Amount,Due Date,Bill Date,Exactness",
        f'AY1234,Vishakha,7706057010,LN-AY1234,TEST-124,July Installment,"1,250.00",{dates}',
        f'CUST7001,Meera Pillai,9876570001,LN-7001,LN-7001-01,Instalment 1 of 12,"3,100.00",{dates}',
        f"CUST7002,Kiran Rao,9876570002,LN-7002,LN-7002-01,Instalment 1 of 12,three thousand,{dates}",
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_an_operator_uploads_a_file_with_rejects_downloads_them_and_confirms(page, console, screenshot, tmp_path):
    sign_in(page, console, "asha")
    page.get_by_role("navigation").get_by_role("link", name="Upload").click()
    page.get_by_label("File").set_input_files(str(_bill_file(tmp_path / "emi-demand.csv")))
    screenshot(page, "console/upload", full_page=True)
    page.get_by_role("button", name="Check the file").click()

    page.get_by_role("heading", name="Checked: nothing is written yet").wait_for(timeout=30_000)
    main = page.locator("main").inner_text()
    assert "TEST-124 amount 1,200.00 → 1,250.00" in main and "LN-7001-01 new: 3,100.00" in main
    assert "amount: 'three thousand' is not an amount" in main
    assert page.get_by_role("button", name="Confirm: write 2 bills").is_visible()
    screenshot(page, "console/upload-check", full_page=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the rejects file").click()
    rejects = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert rejects[0].endswith(",upload_line,upload_reason") and rejects[1].startswith("CUST7002,Kiran Rao,")
    assert download.value.suggested_filename == "emi-demand-rejects.csv"

    page.get_by_role("button", name="Confirm: write 2 bills").click()
    # The write runs in serve's background thread; the page refreshes itself until it is done.
    page.get_by_role("heading", name="Written").wait_for(timeout=60_000)
    assert "finished: 1 bill(s) created, 1 updated" in page.locator("main").inner_text()
    assert page.outside_requests == []
    screenshot(page, "console/upload-done", full_page=True)

    page.goto(f"{console.base_url}/console/bills/TEST-124")
    assert "₹1,250.00" in page.locator("dl.facts").inner_text()
    page.goto(f"{console.base_url}/console/uploads")
    latest = page.locator("tbody tr").first.inner_text()
    assert "emi-demand.csv" in latest and "console:asha" in latest and "FINISHED" in latest
    page.goto(f"{console.base_url}/console/audit")
    assert page.locator("tr", has_text="upload_bills").filter(has_text="asha").count() == 1


def test_the_upload_shows_its_progress_while_it_runs(page, console, tmp_path):
    """A larger file: the check's page is seen refreshing itself with a progress bar before the counts."""
    generated, due = india_today().replace(day=1), india_today() + dt.timedelta(days=20)
    rows = [",".join(COLUMNS)]
    rows += [
        f"P{n:06d},Person {n},,LN-P{n},LN-P{n}-01,Instalment,1000.00,{due},{generated},EXACT,," for n in range(60_000)
    ]
    big = tmp_path / "large.csv"
    big.write_text("\n".join(rows) + "\n", encoding="utf-8")
    sign_in(page, console, "asha")
    page.goto(f"{console.base_url}/console/uploads")
    page.get_by_label("File").set_input_files(str(big))
    page.get_by_role("button", name="Check the file").click()

    page.get_by_role("heading", name=re.compile(r"^Checking: ")).wait_for(timeout=30_000)
    assert page.locator("progress").count() == 1
    assert page.locator('meta[http-equiv="refresh"]').count() == 1

    page.get_by_role("heading", name="Checked: nothing is written yet").wait_for(timeout=120_000)
    assert "60000" in page.locator(".cards").inner_text()
    page.get_by_role("button", name="Confirm: write 60000 bills").click()
    page.get_by_role("heading", name=re.compile(r"^Writing: ")).wait_for(timeout=30_000)
    assert (
        "customers written" in page.locator("section.progress").inner_text()
        or "read" in page.locator("section.progress").inner_text()
    )
    page.get_by_role("heading", name="Written").wait_for(timeout=240_000)
    assert "finished: 60000 bill(s) created" in page.locator("main").inner_text()


def test_a_viewer_is_not_offered_the_upload_and_is_refused_when_posting_it_by_hand(page, console, tmp_path):
    sign_in(page, console, "ravi")
    page.goto(f"{console.base_url}/console/uploads")
    assert page.get_by_role("button", name="Check the file").count() == 0
    token = page.locator("form.who input[name=csrf_token]").get_attribute("value")

    refused = page.request.post(
        f"{console.base_url}/console/uploads",
        multipart={
            "csrf_token": token,
            "file": {
                "name": "bills.csv",
                "mimeType": "text/csv",
                "buffer": _bill_file(tmp_path / "b.csv").read_bytes(),
            },
        },
        max_redirects=0,
    )

    assert refused.status == 403 and "Your role does not allow this" in refused.text()


def test_a_non_csv_file_gets_one_clear_message(page, console, screenshot, tmp_path):
    sign_in(page, console, "asha")
    page.goto(f"{console.base_url}/console/uploads")
    statement = tmp_path / "statement.pdf"
    statement.write_bytes(b"%PDF-1.7 not a bill file")
    page.get_by_label("File").set_input_files(str(statement))
    page.get_by_role("button", name="Check the file").click()

    alert = page.get_by_role("alert").inner_text()
    assert alert == "statement.pdf is not a CSV file (.csv) or an Excel workbook (.xlsx): upload one of those."


def test_an_operator_closes_a_bill_with_a_reason(page, console, screenshot, tmp_path):
    generated, due = india_today().replace(day=1), india_today() + dt.timedelta(days=20)
    bills = tmp_path / "one.csv"
    bills.write_text(
        ",".join(COLUMNS) + f"\nCUST7001,Meera Pillai,,LN-7001,LN-7001-01,Instalment,3100,{due},{generated},EXACT,,\n"
    )
    loaded = subprocess.run([str(BIN), "bills", "upload", str(bills)], env=console.env, capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    sign_in(page, console, "asha")
    page.goto(f"{console.base_url}/console/bills/LN-7001-01")
    assert "OPEN" in page.locator("h1").inner_text()

    page.get_by_label("Reason").fill("foreclosed at the branch")
    page.get_by_role("button", name="Close bill LN-7001-01").click()

    page.get_by_role("status").filter(has_text="Bill LN-7001-01 is closed.").wait_for()
    assert "CLOSED" in page.locator("h1").inner_text()
    assert "foreclosed at the branch" in page.locator("dl.facts").inner_text()
    audit_row = page.locator("tr", has_text="close_bill")
    assert "asha" in audit_row.inner_text() and "foreclosed at the branch" in audit_row.inner_text()
    screenshot(page, "console/bill-closed", full_page=True)
