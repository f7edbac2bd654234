"""Schema fuzzing: schemathesis drives every operation of the app's own OpenAPI document, authenticated.

Checks: no 5xx, every status documented, every body conforming to its documented schema. 200 examples per
operation (``BILLER_FUZZ_EXAMPLES`` to change), on SQLite and on PostgreSQL, in every CI run.
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from biller_server.app import create_app
from tests.conftest import DIGILEDGE_KEY, KALEIDOFIN_KEY, SETU_KEY, make_settings
from tests.factories import BillFactory, CustomerFactory

EXAMPLES = int(os.environ.get("BILLER_FUZZ_EXAMPLES", "200"))
# Business refusals of schema-valid requests (customer-not-found, bill-not-found) are 400 by the partners'
# contract, so schemathesis' "positive data must be accepted" check does not apply; these four do.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Setu's fetchReceipt answers a payment it cannot take with a 500 so that Setu retries (docs/channels/setu.md):
# those two codes, and no other 5xx.
SETU_POSTING_500S = {"bill-not-found", "transaction-conflict"}


def only_documented_server_errors(ctx, response, case):
    if response.status_code >= 500:
        code = response.json()["error"]["code"] if response.status_code == 500 else None
        assert code in SETU_POSTING_500S, f"{response.status_code} {response.text}"
    return None


SETU_POSTING_CHECKS = [only_documented_server_errors, *CHECKS[1:]]


def _documented_operations() -> list[tuple[str, str]]:
    document = create_app(make_settings("sqlite:///:memory:")).test_client().get("/openapi.json").json
    return sorted((method.upper(), path) for path, item in document["paths"].items() for method in item)


def _credentials(path: str) -> dict[str, str]:
    if path.startswith("/bills/"):
        return {"X-API-Key": KALEIDOFIN_KEY}
    if path.startswith("/digiledge/"):
        return {"X-API-Key": DIGILEDGE_KEY}
    if path.startswith("/setu/"):
        return {"X-API-Key": SETU_KEY}
    return {}


@pytest.fixture
def settings_overrides():
    # A TxnStatus402 request carries no tenantId: with the setting, its fuzzed requests reach the payment look-up
    # (without it, most are refused 400 for want of a tenantId, as documented).
    return {"digiledge_tenant_id": "DGLG"}


@pytest.mark.parametrize(("method", "path"), _documented_operations())
def test_every_operation_answers_within_its_documented_contract(app, session, method, path):
    # Some real data, so that well-formed requests can also reach the paths that find a customer or a bill.
    customer = CustomerFactory(lender_customer_id="AY1234", name="Vishakha", mobile="7706057010")
    BillFactory(customer=customer, partner_bill_id="SAMPLE_ID", amount_paise=100_000)
    # Setu's scenario 1: what its examples name.
    setu_customer = CustomerFactory(lender_customer_id="9117534711", name="Sharmaji Ka Beta", mobile=None)
    BillFactory(customer=setu_customer, partner_bill_id="891234567", amount_paise=1000)
    checks = SETU_POSTING_CHECKS if path == "/setu/bills/fetchReceipt" else CHECKS
    operation = schemathesis.openapi.from_wsgi("/openapi.json", app)[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
    )
    def call(case):
        case.call_and_validate(headers=_credentials(path), checks=checks)

    call()
