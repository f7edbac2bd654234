"""How the settlement report pairs a partner's settlement lines with the bank's credits (docs/reconciliation.md,
"How it matches"): the cases the indexes behind it must get as a scan of every credit would."""

import datetime as dt
import hashlib

from biller_server.domain.settlement import record_partner_settlement, settlement_report
from biller_server.persistence.models import BankEntry, Channel, PaymentStatus
from tests.factories import PaymentFactory

NOW = dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 28)


def _line(session, ref, amount_paise=350_000, partner="kaleidofin"):
    payment_ref = f"KF-{partner}-{ref}"
    PaymentFactory(channel=Channel.KALEIDOFIN, partner_txn_ref=payment_ref, status=PaymentStatus.CONFIRMED)
    record_partner_settlement(
        session=session,
        partner=partner,
        settlement_ref=ref,
        settled_on=DAY,
        amount_paise=amount_paise,
        payment_refs=[payment_ref],
        source="test",
        now=NOW,
    )


def _credit(session, narration, amount_paise=350_000, utr=None, day=DAY):
    entry = BankEntry(
        value_date=day,
        amount_paise=amount_paise,
        credit=True,
        narration=narration,
        utr=utr,
        fingerprint=hashlib.sha256(f"{narration}|{amount_paise}|{day}".encode()).hexdigest(),
        source_file="statement.csv",
        imported_at=NOW,
    )
    session.add(entry)
    session.flush()
    return entry


def _matches(session):
    report = settlement_report(session=session, day=DAY, never_settled_after_days=30, now=NOW)
    return [(match.settlement_ref, match.bank_entry_id, match.matched_by) for match in report.matches]


def test_a_reference_the_bank_wrote_inside_its_narration_matches_by_utr(session):
    _line(session, "KF-SET-20261128-01")
    entry = _credit(session, "CMS CR KALEIDOFIN PVT LTD BATCH/kf-set-20261128-01/LENDER")

    assert _matches(session) == [("KF-SET-20261128-01", entry.id, "utr")]


def test_a_credit_under_a_utr_is_used_once_the_first_in_statement_order(session):
    _line(session, "N332261234567890")
    _line(session, "N332261234567890", partner="kaleidofin-2")
    first = _credit(session, "NEFT-N332261234567890-KALEIDOFIN", utr="N332261234567890")
    second = _credit(session, "NEFT CR N332261234567890 KALEIDOFIN", utr=None)

    assert _matches(session) == [
        ("N332261234567890", first.id, "utr"),
        ("N332261234567890", second.id, "utr"),
    ]


def test_without_a_utr_each_credit_of_the_amount_naming_the_partner_is_used_once(session):
    _line(session, "UTR-1")
    _line(session, "UTR-2")
    _line(session, "UTR-3")
    first = _credit(session, "NEFT CR KALEIDOFIN PRIVATE LIMITED")
    second = _credit(session, "NEFT CR KALEIDOFIN PRIVATE LIMITED", day=DAY + dt.timedelta(days=1))
    _credit(session, "NEFT CR SOMEONE ELSE")

    assert _matches(session) == [
        ("UTR-1", first.id, "partner+date+amount"),
        ("UTR-2", second.id, "partner+date+amount"),
    ]
