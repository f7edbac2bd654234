"""The fake partners serve the documents' own examples: check each one against its document, character for
character, when the documents folder is present (it lives outside the repository)."""

from pathlib import Path

import pytest

from tests.fakes import payloads

DOCS = Path("/work/shared/partner-docs")

VERBATIM = {
    "kaleidofin-collection-api.txt": ["KALEIDOFIN_STATUS", "KALEIDOFIN_PAYMENT", "KALEIDOFIN_FETCH_BILLS"],
    "payu-get-payment-status.txt": ["PAYU_SUCCESS", "PAYU_RECORD_NOT_FOUND", "PAYU_FAILURE", "PAYU_PENDING"],
    "digiledge-payment-status-api.md": ["DIGILEDGE_PAYMENT_STATUS_AS_PUBLISHED"],
    "digiledge-payment-notification.txt": ["DIGILEDGE_NOTIFICATION_AS_PUBLISHED"],
}


@pytest.mark.skipif(not DOCS.is_dir(), reason="the partner documents folder is not on this machine")
@pytest.mark.parametrize(("document", "name"), [(doc, name) for doc, names in VERBATIM.items() for name in names])
def test_example_payload_appears_verbatim_in_its_document(document, name):
    assert getattr(payloads, name) in (DOCS / document).read_text()
