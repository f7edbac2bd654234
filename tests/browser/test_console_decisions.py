"""A person's decisions and reconciliation in a real browser: an operator resolves an UNRESOLVED payment and sees
the bill's balance and the audit entry change; a viewer is refused the same action, also when the form is posted
by hand with the page's token; a payment found by its settlement UTR and by a mobile number; a reconciliation
break acknowledged with a note.

Pictures (``docs/images/console/``, shown in docs/console.md): the payment with its actions, the settlement report.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.india import india_today
from biller_server.domain.payments.outcomes import mark_payment_unresolved
from biller_server.domain.settlement import record_partner_settlement
from biller_server.persistence.models import Job, JobState, Payment
from biller_server.persistence.types import utcnow
from tests.browser.conftest import SAMPLE_BILLS, run_commands
from tests.conftest import KALEIDOFIN_KEY
from tests.reliability.live import LiveServer

PASSWORD = "correct-horse-battery"
UTR = "N332261234567890"
MOBILE_AS_TOLD = "077060-57010"  # the sample customer's mobile, written another way
BREAK = f"settled_not_in_bank:kaleidofin:{UTR}"


def _pay(live: LiveServer, partner_bill_id: str, rupees: float, transaction_id: str, *, bill: float = 0) -> None:
    paid = live.post(
        "/bills/fetchReceipt",
        {
            "systemBillId": 15,
            "partnerBillId": partner_bill_id,
            "paymentDetails": {"billAmount": bill or rupees, "amountPaid": rupees, "transactionId": transaction_id},
        },
        key=KALEIDOFIN_KEY,
    )
    assert paid.status_code == 200, paid.text


def _stuck(books: Session, transaction_id: str) -> None:
    """The payment's confirmation gave up (its job ends UNRESOLVED): what a person is for. Done before the fake
    confirmer's first ask (5 s after the payment)."""
    payment = books.scalars(sa.select(Payment).where(Payment.partner_txn_ref == transaction_id)).one()
    job = books.scalars(sa.select(Job).where(Job.payment_id == payment.id).with_for_update()).one()
    assert job.state is JobState.PENDING and job.attempts == 0, "the worker asked before the test could stop it"
    job.state, job.outcome = JobState.UNRESOLVED, "pending"
    assert mark_payment_unresolved(session=books, payment=payment, source="test", reason="no answer", now=utcnow())


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``serve`` with the console, the sample bills, an operator and a viewer; two UNRESOLVED payments, and one
    the partner settled yesterday under a UTR the bank statement does not show (a break)."""
    tmp_path = tmp_path_factory.mktemp("decisions")
    env = {
        "BILLER_CONSOLE_ENABLED": "true",
        "BILLER_CONSOLE_SECRET_KEY": "browser-test-key-" + "x" * 32,
        "BILLER_INSTANCE_DIR": str(tmp_path / "instance"),
        "BILLER_PARTNER_READ_TIMEOUT_SECONDS": "1",
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
            ],
        )
        _pay(live, "TEST-124", 1200, "STUCK-0001")
        _pay(live, "TESTING-002", 1000, "STUCK-0002")
        _pay(live, "LN-2024-0002-03", 600, "SETTLED-0001", bill=1800.50)
        engine = sa.create_engine(live.database_url)
        try:
            with Session(engine) as books, books.begin():
                _stuck(books, "STUCK-0001")
                _stuck(books, "STUCK-0002")
                record_partner_settlement(
                    session=books,
                    partner="kaleidofin",
                    settlement_ref=UTR,
                    settled_on=india_today() - dt.timedelta(days=1),
                    amount_paise=60_000,
                    payment_refs=["SETTLED-0001"],
                    source="test",
                    now=utcnow(),
                )
        finally:
            engine.dispose()
        yield live
    finally:
        live.stop()


def sign_in(page, console, name: str) -> None:
    page.goto(f"{console.base_url}/console/")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name=re.compile(r"^Today, ")).wait_for()


def open_payment(page, console, transaction_id: str) -> None:
    page.get_by_role("searchbox", name="Find").fill(transaction_id)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name=re.compile(r"^Payments \(")).wait_for()
    page.locator("a[href*='/console/payments/']", has_text=re.compile(r"^#\d+$")).first.click()
    page.get_by_role("heading", name=re.compile(r"^Payment #\d+")).wait_for()


def test_an_operator_resolves_an_unresolved_payment_and_sees_the_balance_and_the_audit_change(
    page, console, screenshot
):
    sign_in(page, console, "asha")
    open_payment(page, console, "STUCK-0001")
    facts = page.locator("section.columns")
    assert "UNRESOLVED" in page.locator("h1").inner_text()
    assert "₹0.00" in facts.locator("dd", has_text="₹").nth(-1).inner_text()  # the bill's balance: paid in full
    screenshot(page, "console/payment-actions", full_page=True)

    page.get_by_label("did not move: FAILED").check()
    page.get_by_label(re.compile("^Note")).fill("Kaleidofin ops: the customer was never debited")
    page.get_by_label(re.compile("^Evidence")).fill("ticket KF-991")
    page.get_by_role("button", name="Record the decision").click()

    page.get_by_role("status").filter(has_text=re.compile(r"Payment \d+ is now FAILED")).wait_for()
    assert "FAILED" in page.locator("h1").inner_text()
    balance = page.locator("dt", has_text=re.compile("^balance$")).locator("xpath=following-sibling::dd[1]")
    assert balance.inner_text() == "₹1,200.00"  # the amount came off the bill
    audit_row = page.locator("tr", has_text="payment.resolve.failed")
    assert "asha" in audit_row.inner_text() and "never debited" in audit_row.inner_text()
    assert "ticket KF-991" in audit_row.inner_text()
    assert page.outside_requests == []


def test_a_viewer_is_not_offered_the_action_and_is_refused_when_posting_it_by_hand(page, console):
    sign_in(page, console, "ravi")
    open_payment(page, console, "STUCK-0002")
    assert page.get_by_role("button", name="Record the decision").count() == 0
    payment_path = page.url.removeprefix(console.base_url)
    token = page.locator("form.who input[name=csrf_token]").get_attribute("value")

    refused = page.request.post(
        f"{console.base_url}{payment_path}/resolve",
        form={"csrf_token": token, "decision": "failed", "note": "by hand"},
        max_redirects=0,
    )

    assert refused.status == 403 and "Your role does not allow this" in refused.text()
    page.reload()
    assert "UNRESOLVED" in page.locator("h1").inner_text()
    refusal = page.locator("tr", has_text="payment.resolve")
    assert "ravi" in refusal.inner_text() and "refused" in refusal.inner_text()


def test_find_a_payment_by_its_settlement_utr_and_by_a_mobile_number(page, console):
    sign_in(page, console, "ravi")

    page.get_by_role("searchbox", name="Find").fill(UTR)
    page.keyboard.press("Enter")

    page.get_by_role("heading", name="Settlement lines (1)").wait_for()
    assert "SETTLED-0001" in page.locator("main").inner_text()

    page.get_by_role("searchbox", name="Find").fill(MOBILE_AS_TOLD)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name=re.compile(r"^Payments \(")).wait_for()
    assert "STUCK-0002" in page.locator("main").inner_text()


def test_an_operator_acknowledges_a_reconciliation_break(page, console, screenshot):
    sign_in(page, console, "asha")
    page.get_by_role("navigation").get_by_role("link", name="Settlement").click()
    page.get_by_role("heading", name=re.compile(r"^Settlement report, ")).wait_for()
    open_break = page.locator("section.break", has_text=BREAK)
    assert "₹600.00" in open_break.inner_text()
    screenshot(page, "console/settlement", full_page=True)

    open_break.get_by_label(re.compile("^Note")).fill("Bank confirms the credit on the next statement")
    open_break.get_by_role("button", name="Acknowledge").click()

    page.get_by_role("status").filter(has_text=f"Break {BREAK} acknowledged.").wait_for()
    assert page.locator("section.break", has_text=BREAK).count() == 0
    acknowledged = page.locator("tr", has_text=BREAK)
    assert "asha" in acknowledged.inner_text() and "next statement" in acknowledged.inner_text()

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    content = Path(download.value.path()).read_text(encoding="utf-8")
    assert f"acknowledged,{BREAK}" in content
