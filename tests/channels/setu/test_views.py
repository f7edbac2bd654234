"""The Setu channel over HTTP: Setu's own examples (tests/fakes/setu_payloads.py, verbatim) posted to the live
views, every answer checked against Setu's spec (tests/channels/setu/setu_spec.py, closed: no unknown keys)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from biller_server.domain.india import IST
from biller_server.persistence.models import (
    AdhocPaymentAccount,
    AmountExactness,
    Bill,
    BillStatus,
    Channel,
    CustomerIdentifier,
    IdentifierKind,
    InboundMessage,
    Job,
    Payment,
    PaymentStatus,
    SettlementEvent,
    SettlementEventBill,
    SettlementItem,
    SettlementLine,
    SettlementState,
)
from tests.channels.setu.setu_spec import errors_of, response_validator
from tests.factories import BillFactory, CustomerFactory, PaymentFactory
from tests.fakes import setu_payloads as published_pages
from tests.fakes.setu_payloads import published, strip_comments

PREFIX = "/setu"


def post(client, path, body, headers, **extra):
    text = body if isinstance(body, str) else json.dumps(body)
    return client.post(PREFIX + path, data=text, headers={"Content-Type": "application/json", **headers, **extra})


def assert_setu_answer(path, response, status=200):
    assert response.status_code == status, response.get_data(as_text=True)
    document = response.get_json()
    assert errors_of(response_validator(path, status), document) == []
    return document


@pytest.fixture
def scenario_customer(session):
    """Setu's scenario 1: customer 9117534711, bill 891234567 of Rs 1,000 (100000 paise), EXACT."""
    customer = CustomerFactory(lender_customer_id="9117534711", name="Sharmaji Ka Beta", mobile=None)
    return customer


class TestFetchBills:
    def test_scenario_1_setus_request_verbatim_gets_the_customers_bill(self, client, setu_headers, scenario_customer):
        BillFactory(
            customer=scenario_customer,
            partner_bill_id="891234567",
            loan_account_number=None,
            name="Total Receivable",
            amount_paise=100_000,
            generated_date=dt.date(2022, 6, 7),
            due_date=dt.date(2022, 6, 30),
        )

        document = assert_setu_answer(
            "/bills/fetch",
            post(client, "/bills/fetch", strip_comments(published_pages.FETCH_BILL_REQUEST), setu_headers),
        )

        expected = published(published_pages.FETCH_BILL_AVAILABLE)
        (bill,) = document["data"]["billDetails"]["bills"]
        (setus_bill,) = expected["data"]["billDetails"]["bills"]
        # The decided differences (docs/channels/setu.md, "Rendering a bill"): no items, a zero platformFee, a
        # dueDate, generatedOn from the bill's date, no customer.additionalInfo.
        assert bill["generatedOn"] == "2022-06-06T18:30:00.000Z"
        assert bill["dueDate"] == "2022-06-30T18:29:59.999Z"
        assert bill["platformFee"]["aggregates"]["total"] == {"value": 0, "currencyCode": "INR"}
        for key in ("customerAccount", "recurrence", "aggregates", "billerBillID", "amountExactness"):
            assert bill[key] == setus_bill[key], key
        assert document["data"]["billDetails"]["billFetchStatus"] == "AVAILABLE"
        assert document["data"]["customer"] == {"name": "Sharmaji Ka Beta"}
        assert (document["status"], document["success"]) == (200, True)

    def test_scenario_2_no_outstanding_is_setus_answer(self, client, setu_headers, scenario_customer):
        response = post(client, "/bills/fetch", strip_comments(published_pages.FETCH_BILL_REQUEST), setu_headers)

        assert assert_setu_answer("/bills/fetch", response) == published(published_pages.FETCH_BILL_NO_OUTSTANDING)

    def test_scenario_3_an_unknown_customer_is_setus_customer_not_found(self, client, setu_headers):
        response = post(client, "/bills/fetch", strip_comments(published_pages.FETCH_BILL_REQUEST), setu_headers)

        document = assert_setu_answer("/bills/fetch", response, 400)
        assert document["error"]["code"] == published(published_pages.FETCH_BILL_CUSTOMER_NOT_FOUND)["error"]["code"]

    def test_the_trailing_slash_is_answered_without_a_redirect(self, client, setu_headers, scenario_customer):
        response = client.post(
            PREFIX + "/bills/fetch/", json=published(published_pages.FETCH_BILL_REQUEST), headers=setu_headers
        )

        assert response.status_code == 200
        assert response.get_json()["data"]["billDetails"]["billFetchStatus"] == "NO_OUTSTANDING"

    def test_several_bills_in_the_order_issued_each_labelled_by_its_name(self, client, setu_headers, scenario_customer):
        today = dt.datetime.now(IST).date()
        BillFactory(
            customer=scenario_customer, partner_bill_id="OLD", name="November", due_date=today + dt.timedelta(days=1)
        )
        BillFactory(
            customer=scenario_customer, partner_bill_id="NEW", name="December", due_date=today + dt.timedelta(days=30)
        )

        response = post(client, "/bills/fetch", published(published_pages.FETCH_BILL_REQUEST), setu_headers)

        bills = assert_setu_answer("/bills/fetch", response)["data"]["billDetails"]["bills"]
        assert [(bill["billerBillID"], bill["aggregates"]["total"]["displayName"]) for bill in bills] == [
            ("OLD", "November"),
            ("NEW", "December"),
        ]

    def test_a_blank_optional_identifier_is_skipped(self, client, setu_headers, scenario_customer):
        body = {
            "customerIdentifiers": [
                {"attributeName": "customerId", "attributeValue": "9117534711"},
                {"attributeName": "loanNumber", "attributeValue": "  "},
            ]
        }

        assert post(client, "/bills/fetch", body, setu_headers).status_code == 200

    def test_only_blank_identifiers_are_insufficient(self, client, setu_headers):
        body = {"customerIdentifiers": [{"attributeName": "customerId", "attributeValue": ""}]}

        document = assert_setu_answer("/bills/fetch", post(client, "/bills/fetch", body, setu_headers), 400)
        assert document["error"]["code"] == "insufficient-customer-identifiers"

    def test_an_unknown_attribute_name_is_an_invalid_param_naming_the_accepted_ones(self, client, setu_headers):
        body = {"customerIdentifiers": [{"attributeName": "panNumber", "attributeValue": "ABCDE1234F"}]}

        document = assert_setu_answer("/bills/fetch", post(client, "/bills/fetch", body, setu_headers), 400)
        assert document["error"]["code"] == "invalid-param"
        assert "customerid" in document["error"]["detail"]

    def test_a_fetch_writes_nothing_but_the_inbound_log(self, client, setu_headers, scenario_customer, session):
        post(client, "/bills/fetch", published(published_pages.FETCH_BILL_REQUEST), setu_headers)

        logged = session.scalars(sa.select(InboundMessage)).one()
        assert (logged.channel, logged.outcome, logged.partner_ref) == ("setu", "no_outstanding", "9117534711")
        assert session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 0


class TestFetchReceipt:
    @pytest.fixture
    def bill(self, scenario_customer):
        return BillFactory(customer=scenario_customer, partner_bill_id="891234567", amount_paise=1000)

    def test_setus_posting_verbatim_records_the_payment_and_answers_its_receipt(
        self, client, setu_headers, bill, session
    ):
        response = post(
            client, "/bills/fetchReceipt", strip_comments(published_pages.FETCH_RECEIPT_REQUEST), setu_headers
        )

        document = assert_setu_answer("/bills/fetchReceipt", response)
        payment = session.scalars(sa.select(Payment)).one()
        assert document["data"]["receipt"]["id"] == payment.receipt.receipt_number
        assert set(document["data"]) == set(published(published_pages.FETCH_RECEIPT_SUCCESS)["data"])
        assert (payment.channel, payment.partner_txn_ref, payment.customer_txn_ref, payment.partner_bill_ref) == (
            Channel.SETU,
            "PP012151MYB616O9BSY1",
            "26602931-3b6a-4c87-a14d-5d7cf584008f",
            "906910589572351478",
        )
        assert (payment.amount_paise, payment.declared_bill_amount_paise) == (1000, 1000)
        session.refresh(bill)
        assert payment.paid_at == dt.datetime(2020, 5, 22, 3, 5, 22, tzinfo=dt.UTC)
        assert (bill.paid_paise, bill.status, payment.flagged) == (1000, BillStatus.PAID, False)

    def test_the_confirmation_job_carries_setus_context_with_the_ref_id_header(
        self, client, setu_headers, bill, session
    ):
        post(
            client,
            "/bills/fetchReceipt",
            published(published_pages.FETCH_RECEIPT_REQUEST),
            setu_headers,
            **{"Ref-Id": published_pages.REF_ID_HEADER_EXAMPLE},
        )

        job = session.scalars(sa.select(Job)).one()
        assert job.partner == "setu"
        assert job.payload == {
            "setu_context": {
                "platformBillID": "906910589572351478",
                "uniquePaymentRefID": "PP012151MYB616O9BSY1",
                "platformTransactionRefID": "26602931-3b6a-4c87-a14d-5d7cf584008f",
                "refId": published_pages.REF_ID_HEADER_EXAMPLE,
            }
        }

    def test_a_retry_gets_the_same_answer_and_changes_nothing(self, client, setu_headers, bill, session):
        body = published(published_pages.FETCH_RECEIPT_REQUEST)
        first = post(client, "/bills/fetchReceipt", body, setu_headers)
        again = post(client, "/bills/fetchReceipt", body, setu_headers)

        assert (first.status_code, again.status_code) == (200, 200)
        assert first.get_json() == again.get_json()
        assert session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 1
        session.refresh(bill)
        assert bill.paid_paise == 1000
        outcomes = session.scalars(sa.select(InboundMessage.outcome).order_by(InboundMessage.id)).all()
        assert outcomes == ["receipt_issued", "receipt_replayed"]

    def test_a_conflicting_retry_is_a_500_transaction_conflict_and_changes_nothing(
        self, client, setu_headers, bill, session
    ):
        body = published(published_pages.FETCH_RECEIPT_REQUEST)
        post(client, "/bills/fetchReceipt", body, setu_headers)
        body["paymentDetails"]["amountPaid"]["value"] = 999

        document = assert_setu_answer(
            "/bills/fetchReceipt", post(client, "/bills/fetchReceipt", body, setu_headers), 500
        )

        assert document["error"]["code"] == "transaction-conflict"
        assert session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 1
        session.refresh(bill)
        assert bill.paid_paise == 1000

    def test_a_platform_transaction_ref_already_used_by_another_payment_is_a_conflict(
        self, client, setu_headers, bill, session
    ):
        body = published(published_pages.FETCH_RECEIPT_REQUEST)
        post(client, "/bills/fetchReceipt", body, setu_headers)
        body["paymentDetails"]["uniquePaymentRefID"] = "ANOTHER-PAYMENT"

        response = post(client, "/bills/fetchReceipt", body, setu_headers)

        assert assert_setu_answer("/bills/fetchReceipt", response, 500)["error"]["code"] == "transaction-conflict"
        assert session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 1

    def test_an_unknown_bill_is_a_500_bill_not_found_so_that_setu_retries(self, client, setu_headers, session):
        response = post(client, "/bills/fetchReceipt", published(published_pages.FETCH_RECEIPT_REQUEST), setu_headers)

        document = assert_setu_answer("/bills/fetchReceipt", response, 500)
        assert document["error"]["code"] == "bill-not-found"
        assert session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 0

    def test_a_payment_for_a_bill_already_paid_is_recorded_receipted_and_flagged(
        self, client, setu_headers, bill, session
    ):
        PaymentFactory(bill=bill, amount_paise=1000)
        bill.paid_paise, bill.status = 1000, BillStatus.PAID
        session.flush()

        response = post(client, "/bills/fetchReceipt", published(published_pages.FETCH_RECEIPT_REQUEST), setu_headers)

        assert_setu_answer("/bills/fetchReceipt", response)
        payment = session.scalars(sa.select(Payment).where(Payment.channel == Channel.SETU)).one()
        assert payment.flagged is True
        assert payment.flag_reason.startswith("bill-already-fulfilled")
        session.refresh(bill)
        assert (bill.paid_paise, bill.balance_paise, bill.status) == (2000, 0, BillStatus.PAID)

    def test_a_payment_for_a_cancelled_bill_is_flagged_and_the_bill_stays_cancelled(
        self, client, setu_headers, bill, session
    ):
        bill.status = BillStatus.CANCELLED
        session.flush()

        assert (
            post(
                client, "/bills/fetchReceipt", published(published_pages.FETCH_RECEIPT_REQUEST), setu_headers
            ).status_code
            == 200
        )

        payment = session.scalars(sa.select(Payment)).one()
        assert payment.flag_reason.startswith("bill-cancelled")
        session.refresh(bill)
        assert bill.status is BillStatus.CANCELLED

    def test_a_stale_bill_amount_is_flagged_not_refused(self, client, setu_headers, bill, session):
        body = published(published_pages.FETCH_RECEIPT_REQUEST)
        body["paymentDetails"]["billAmount"]["value"] = 5000

        assert post(client, "/bills/fetchReceipt", body, setu_headers).status_code == 200

        assert session.scalars(sa.select(Payment)).one().flag_reason.startswith("incorrect-amount")

    @pytest.mark.parametrize("value", ["1000.0", "1e3", "1e309", '"1000"', "true", "-1", "0", "1000000000000000"])
    def test_an_amount_that_is_not_whole_paise_is_a_400_naming_the_field(
        self, client, setu_headers, bill, value, session
    ):
        text = strip_comments(published_pages.FETCH_RECEIPT_REQUEST).replace('"value": 1000,', f'"value": {value},', 1)

        document = assert_setu_answer(
            "/bills/fetchReceipt", post(client, "/bills/fetchReceipt", text, setu_headers), 400
        )

        assert document["error"]["code"] == "invalid-param"
        assert any("amountPaid" in item["title"] for item in document["error"]["errors"])
        assert session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 0

    def test_a_posting_without_unique_payment_ref_id_is_refused(self, client, setu_headers, bill):
        body = published(published_pages.FETCH_RECEIPT_REQUEST)
        del body["paymentDetails"]["uniquePaymentRefID"]

        document = assert_setu_answer(
            "/bills/fetchReceipt", post(client, "/bills/fetchReceipt", body, setu_headers), 400
        )
        assert document["error"]["code"] == "invalid-param"


class TestValidateAndPay:
    def test_setus_validation_verbatim_answers_the_customers_adhoc_account(
        self, client, setu_headers, scenario_customer, session
    ):
        response = post(
            client, "/customer/validate", strip_comments(published_pages.VALIDATE_CUSTOMER_REQUEST), setu_headers
        )

        document = assert_setu_answer("/customer/validate", response)
        account = session.scalars(sa.select(AdhocPaymentAccount)).one()
        assert document["data"] == {
            "customer": {"name": "Sharmaji Ka Beta"},
            "billerBillID": f"ADHOC-{account.id:010d}",
        }

    def test_every_validation_of_a_customer_names_the_same_account(
        self, client, setu_headers, scenario_customer, session
    ):
        body = published(published_pages.VALIDATE_CUSTOMER_REQUEST)
        answers = {
            post(client, "/customer/validate", body, setu_headers).get_json()["data"]["billerBillID"] for _ in range(3)
        }

        assert len(answers) == 1
        assert session.scalar(sa.select(sa.func.count()).select_from(AdhocPaymentAccount)) == 1

    def test_an_unknown_customer_is_setus_customer_not_found(self, client, setu_headers):
        response = post(
            client, "/customer/validate", published(published_pages.VALIDATE_CUSTOMER_REQUEST), setu_headers
        )

        document = assert_setu_answer("/customer/validate", response, 400)
        assert document["error"]["code"] == published(published_pages.VALIDATE_CUSTOMER_NOT_FOUND)["error"]["code"]

    def test_setus_payment_on_the_account_books_a_bill_of_exactly_the_amount_paid(
        self, client, setu_headers, scenario_customer, session
    ):
        account = post(client, "/customer/validate", published(published_pages.VALIDATE_CUSTOMER_REQUEST), setu_headers)
        text = (
            strip_comments(published_pages.VALIDATE_PAY_RECEIPT_REQUEST)
            .replace('"891234567"', json.dumps(account.get_json()["data"]["billerBillID"]))
            .replace('"additionalInfo": null,', "")  # the page's example names the key twice (docs/channels/setu.md)
        )

        first = post(client, "/bills/fetchReceipt", text, setu_headers)
        again = post(client, "/bills/fetchReceipt", text, setu_headers)

        assert_setu_answer("/bills/fetchReceipt", first)
        assert first.get_json() == again.get_json()
        bill = session.scalars(sa.select(Bill)).one()
        assert bill.partner_bill_id.startswith(account.get_json()["data"]["billerBillID"] + "-")
        assert (bill.amount_paise, bill.paid_paise, bill.status, bill.exactness) == (
            1000,
            1000,
            BillStatus.PAID,
            AmountExactness.EXACT,
        )
        assert bill.name == "Ad-hoc payment"
        assert bill.customer_id == scenario_customer.id
        assert session.scalars(sa.select(Payment)).one().flagged is False

    def test_setus_example_verbatim_names_additional_info_twice_and_is_refused_unread(
        self, client, setu_headers, session
    ):
        response = post(
            client, "/bills/fetchReceipt", strip_comments(published_pages.VALIDATE_PAY_RECEIPT_REQUEST), setu_headers
        )

        document = assert_setu_answer("/bills/fetchReceipt", response, 400)
        assert 'repeats the key "additionalInfo"' in document["error"]["detail"]
        assert session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 0

    def test_a_posting_for_an_account_that_does_not_exist_is_bill_not_found(self, client, setu_headers, session):
        body = published(published_pages.VALIDATE_PAY_RECEIPT_REQUEST)
        body["billerBillID"] = "ADHOC-9999999999"

        response = post(client, "/bills/fetchReceipt", body, setu_headers)

        assert assert_setu_answer("/bills/fetchReceipt", response, 500)["error"]["code"] == "bill-not-found"
        assert session.scalar(sa.select(sa.func.count()).select_from(Bill)) == 0

    def test_an_account_per_loan_when_the_identifiers_name_one(self, client, setu_headers, scenario_customer, session):
        BillFactory(customer=scenario_customer, loan_account_number="LAN-7")
        session.add(
            CustomerIdentifier(customer=scenario_customer, kind=IdentifierKind.LOAN_ACCOUNT_NUMBER, value="LAN-7")
        )
        session.flush()
        body = {
            "customerIdentifiers": [
                {"attributeName": "customerId", "attributeValue": "9117534711"},
                {"attributeName": "loanNumber", "attributeValue": "LAN-7"},
            ]
        }

        with_loan = post(client, "/customer/validate", body, setu_headers).get_json()["data"]["billerBillID"]
        without = post(client, "/customer/validate", published(published_pages.VALIDATE_CUSTOMER_REQUEST), setu_headers)

        assert with_loan != without.get_json()["data"]["billerBillID"]
        loans = session.scalars(sa.select(AdhocPaymentAccount.loan_account_number).order_by(AdhocPaymentAccount.id))
        assert loans.all() == ["LAN-7", ""]


class TestValidateAndPayOff:
    @pytest.fixture
    def settings_overrides(self):
        return {"setu_validate_pay_enabled": False}

    def test_validation_is_refused_with_setus_request_not_authorised(
        self, client, setu_headers, scenario_customer, session
    ):
        response = post(
            client, "/customer/validate", published(published_pages.VALIDATE_CUSTOMER_REQUEST), setu_headers
        )

        document = assert_setu_answer("/customer/validate", response, 403)
        assert document["error"]["code"] == "request-not-authorised"
        assert session.scalar(sa.select(sa.func.count()).select_from(AdhocPaymentAccount)) == 0


class TestNotifications:
    @pytest.fixture
    def paid(self, scenario_customer):
        """Two Setu payments, for the platform bills the published settlement names."""
        payments = []
        for index, platform_bill_id in enumerate(["platformBillId1", "platformBillId2"]):
            bill = BillFactory(customer=scenario_customer, amount_paise=54_200)
            payments.append(
                PaymentFactory(
                    bill=bill,
                    channel=Channel.SETU,
                    partner_txn_ref=f"UPR{index}",
                    partner_bill_ref=platform_bill_id,
                    amount_paise=54_200,
                )
            )
        return payments

    @pytest.mark.parametrize("path", ["/notifications", "/api/notifications"])
    def test_setus_settlement_verbatim_is_stored_applied_and_answered(self, client, setu_headers, paid, session, path):
        response = post(client, path, strip_comments(published_pages.SETTLEMENT_NOTIFICATION), setu_headers)

        assert_setu_answer("/notifications", response)
        assert response.get_json() == {"status": 200, "success": True}
        event = session.scalars(sa.select(SettlementEvent)).one()
        assert (
            event.event_id,
            event.status,
            event.settlement_ref,
            event.amount_settled_paise,
            event.matched_paise,
        ) == (
            "f3b41c8f-72fc-485d-b39a-cf497787a039",
            "SETTLEMENT_SUCCESSFUL",
            "1074362738220",
            108_400,
            108_400,
        )
        assert (event.outcome, event.needs_reconciliation) == ("applied", False)
        assert event.body == published(published_pages.SETTLEMENT_NOTIFICATION)["events"][0]
        for payment in paid:
            session.refresh(payment)
            assert payment.status is PaymentStatus.CONFIRMED

    def test_the_settlement_becomes_a_reconciliation_line_covering_its_payments(
        self, client, setu_headers, paid, session
    ):
        post(client, "/notifications", published(published_pages.SETTLEMENT_NOTIFICATION), setu_headers)

        line = session.scalars(sa.select(SettlementLine)).one()
        assert (line.partner, line.settlement_ref, line.amount_paise, line.source) == (
            "setu",
            "1074362738220",
            108_400,
            "setu:notification",
        )
        items = session.scalars(sa.select(SettlementItem).order_by(SettlementItem.payment_ref)).all()
        assert [(item.payment_ref, item.payment_id) for item in items] == [(p.partner_txn_ref, p.id) for p in paid]
        for payment in paid:
            session.refresh(payment)
            assert (payment.settlement_state, payment.settlement_ref) == (SettlementState.SETTLED, "1074362738220")

    def test_a_repeat_changes_nothing(self, client, setu_headers, paid, session):
        text = strip_comments(published_pages.SETTLEMENT_NOTIFICATION)
        post(client, "/notifications", text, setu_headers)

        assert post(client, "/notifications", text, setu_headers).status_code == 200

        assert session.scalar(sa.select(sa.func.count()).select_from(SettlementEvent)) == 1
        assert session.scalar(sa.select(sa.func.count()).select_from(SettlementEventBill)) == 2
        assert session.scalars(sa.select(SettlementEvent)).one().needs_reconciliation is False

    def test_the_same_id_with_other_content_keeps_the_first_and_asks_for_reconciliation(
        self, client, setu_headers, paid, session
    ):
        body = published(published_pages.SETTLEMENT_NOTIFICATION)
        post(client, "/notifications", body, setu_headers)
        body["events"][0]["data"]["amountSettled"]["value"] = 1

        assert post(client, "/notifications", body, setu_headers).status_code == 200

        event = session.scalars(sa.select(SettlementEvent)).one()
        assert (event.amount_settled_paise, event.conflicting_repeats, event.needs_reconciliation) == (108_400, 1, True)

    def test_an_unknown_platform_bill_waits_and_its_later_posting_is_linked_and_confirmed(
        self, client, setu_headers, scenario_customer, session
    ):
        BillFactory(customer=scenario_customer, partner_bill_id="891234567", amount_paise=1000)
        settlement = published(published_pages.SETTLEMENT_NOTIFICATION)
        settlement["events"][0]["data"]["platformBillIds"] = ["906910589572351478"]
        post(client, "/notifications", settlement, setu_headers)
        event = session.scalars(sa.select(SettlementEvent)).one()
        assert (event.outcome, event.needs_reconciliation) == ("unmatched", True)

        post(client, "/bills/fetchReceipt", published(published_pages.FETCH_RECEIPT_REQUEST), setu_headers)

        session.refresh(event)
        payment = session.scalars(sa.select(Payment)).one()
        assert payment.status is PaymentStatus.CONFIRMED
        assert (event.outcome, event.needs_reconciliation, event.matched_paise) == ("applied", False, 1000)
        assert session.scalars(sa.select(SettlementEventBill.payment_id)).one() == payment.id
        item = session.scalars(sa.select(SettlementItem)).one()
        assert (item.payment_ref, item.payment_id) == (payment.partner_txn_ref, payment.id)
        assert (payment.settlement_state, payment.settlement_ref) == (SettlementState.SETTLED, "1074362738220")

    def test_a_settlement_naming_a_payment_already_failed_flags_it_and_never_flips_it(
        self, client, setu_headers, paid, session
    ):
        paid[0].status = PaymentStatus.FAILED
        session.flush()

        post(client, "/notifications", published(published_pages.SETTLEMENT_NOTIFICATION), setu_headers)

        session.refresh(paid[0])
        assert (paid[0].status, paid[0].flagged) == (PaymentStatus.FAILED, True)

    def test_a_failed_settlement_is_stored_for_reconciliation_not_applied(self, client, setu_headers, paid, session):
        body = published(published_pages.SETTLEMENT_NOTIFICATION)
        body["events"][0]["data"]["status"] = "SETTLEMENT_FAILED"

        assert post(client, "/notifications", body, setu_headers).status_code == 200

        event = session.scalars(sa.select(SettlementEvent)).one()
        assert (event.outcome, event.needs_reconciliation) == ("not_successful", True)
        assert {payment.status for payment in paid} == {PaymentStatus.RECEIVED}

    def test_a_settlement_without_bill_ids_is_an_invalid_param_naming_the_path(self, client, setu_headers, session):
        body = published(published_pages.SETTLEMENT_NOTIFICATION)
        body["events"][0]["data"]["platformBillIds"] = []

        document = assert_setu_answer("/notifications", post(client, "/notifications", body, setu_headers), 400)

        assert document["error"]["code"] == "invalid-param"
        assert any("platformBillIds" in item["title"] for item in document["error"]["errors"])
        assert session.scalar(sa.select(sa.func.count()).select_from(SettlementEvent)) == 0

    def test_a_settlement_naming_ten_thousand_bills_is_taken_under_the_notification_cap(
        self, client, setu_headers, session
    ):
        body = published(published_pages.SETTLEMENT_NOTIFICATION)
        body["events"][0]["data"]["platformBillIds"] = [f"90691058957235{n:04d}" for n in range(10_000)]
        assert len(json.dumps(body)) > 64 * 1024  # above the other endpoints' cap

        assert post(client, "/notifications", body, setu_headers).status_code == 200

        assert session.scalar(sa.select(sa.func.count()).select_from(SettlementEventBill)) == 10_000

    def test_a_body_that_size_on_another_path_is_refused_with_413(self, client, setu_headers):
        body = {"customerIdentifiers": [{"attributeName": "customerId", "attributeValue": "1"}], "pad": "x" * 70_000}

        response = post(client, "/bills/fetch", body, setu_headers)

        assert response.status_code == 413
        assert response.get_json()["error"]["code"] == "payload-too-large"

    def test_a_notification_above_its_own_cap_is_refused_with_413(self, client, setu_headers, session):
        body = published(published_pages.SETTLEMENT_NOTIFICATION)
        body["events"][0]["data"]["platformBillIds"] = [f"{n:060d}" for n in range(20_000)]

        response = post(client, "/notifications", body, setu_headers)

        assert response.status_code == 413
        assert session.scalar(sa.select(sa.func.count()).select_from(SettlementEvent)) == 0


def test_a_customer_found_by_mobile_only(client, setu_headers, session):
    customer = CustomerFactory(identifiers=[(IdentifierKind.LOAN_ACCOUNT_NUMBER, "LAN-1")])
    body = {"customerIdentifiers": [{"attributeName": "mobileNumber", "attributeValue": customer.mobile}]}

    document = post(client, "/bills/fetch", body, setu_headers).get_json()

    assert document["data"]["customer"]["name"] == customer.name
