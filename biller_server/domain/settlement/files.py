"""The files an operator brings for reconciliation: a partner's settlement report, the lender's bank statement.

Both are read by the bill upload's readers (CSV or ``.xlsx``, the header found among the first lines, a column map
for names we do not know: ``domain.upload``), each with its own vocabulary of column names.

- A settlement report: one row per payment settled (Setu's Reports API record fields, setu-reports.mdx, or any
  partner's columns mapped onto ours). Rows with the same UTR are one settlement line.
- A bank statement: one row per entry, as Indian banks export them (HDFC's Withdrawal/Deposit columns, a single
  Amount with Dr/Cr, ...). The UTR is read from the narration as banks write it (``NEFT-UTIBR52024112345678-SETU``,
  ``UPI/432112345678/...``, ``IMPS/P2A/432198765432/...``), else from the reference column.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.errors import DomainError
from biller_server.domain.india import IST
from biller_server.domain.money import AmountError, paise_from_file_amount, paise_from_spreadsheet_number
from biller_server.domain.settlement.lines import (
    STATUS_WORDS,
    PartnerSettlement,
    note_partner_settlement_status,
    record_partner_settlements,
)
from biller_server.domain.upload.formats import Refused, Vocabulary, cell_text, date_from_cell, match_columns
from biller_server.domain.upload.reader import open_source
from biller_server.domain.upload.source import UploadFileError
from biller_server.persistence.chunks import in_chunks
from biller_server.persistence.models import BankEntry, Channel, Payment

AmountUnit = Literal["paise", "rupees"]

SETTLEMENT_REPORT = Vocabulary(
    {
        "payment_ref": (
            "payment_ref", "paymentReferenceID", "Payment Reference", "Payment Ref", "Transaction ID", "Txn ID",
            "Transaction Reference", "Ref ID",
        ),
        "settlement_ref": ("settlement_ref", "settlementUtr", "Settlement UTR", "UTR", "UTR No", "Settlement Ref"),
        "settled_on": ("settled_on", "settlementDate", "Settlement Date", "Settled On", "Settled Date"),
        "settled_amount": (
            "settled_amount", "primaryAccountSettlementAmount", "Settlement Amount", "Settled Amount", "Net Amount",
        ),
        "amount_paid": ("amount_paid", "amountPaid", "Paid Amount", "Payment Amount", "Txn Amount", "Gross Amount"),
        "status": ("status", "platformBillStatus", "Bill Status", "Settlement Status", "Status"),
    },
    ("payment_ref", "settlement_ref", "settled_on", "settled_amount"),
    row_noun="settled payment",
)  # fmt: skip

BANK_STATEMENT = Vocabulary(
    {
        "date": ("date", "Txn Date", "Transaction Date", "Tran Date", "Posting Date", "Date"),
        "value_date": ("value_date", "Value Date", "Value Dt"),
        "narration": (
            "narration", "Narration", "Description", "Particulars", "Remarks", "Transaction Remarks",
            "Transaction Details",
        ),
        "reference": (
            "reference", "Chq./Ref.No.", "Chq/Ref No", "Cheque/Reference No", "Ref No", "Reference No", "UTR",
            "UTR No",
        ),
        "credit": ("credit", "Deposit Amt.", "Deposit Amount", "Deposits", "Credit Amount", "Cr Amount", "Credit"),
        "debit": ("debit", "Withdrawal Amt.", "Withdrawal Amount", "Withdrawals", "Debit Amount", "Dr Amount", "Debit"),
        "amount": ("amount", "Amount", "Txn Amount", "Transaction Amount", "Amount (INR)"),
        "direction": ("direction", "Dr/Cr", "Cr/Dr", "Dr / Cr", "Txn Type", "Debit/Credit", "Type"),
    },
    ("narration",),
    row_noun="bank entry",
)  # fmt: skip


class ReconciliationFileError(DomainError):
    code = "reconciliation-file"


# -- settlement reports -------------------------------------------------------------------------------------------


@dataclass
class SettlementImport:
    rows: int = 0
    lines_created: int = 0
    lines_changed: int = 0
    lines_unchanged: int = 0
    payments_settled: int = 0
    not_settled: Counter[str] = field(default_factory=Counter)  # rows skipped, by status ("no UTR" for blank)
    statuses_noted: int = 0  # CREDIT_RECEIVED / SETTLEMENT_FAILED kept on payments
    unknown_refs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # rows that could not be read: nothing was imported


@dataclass
class _Line:
    settled_on: dt.date
    amount_paise: int = 0
    refs: dict[str, int | None] = field(default_factory=dict)


def import_settlement_report(
    *,
    session: Session,
    path: Path,
    partner: str,
    now: dt.datetime,
    columns: Mapping[str, str] | None = None,
    amounts: AmountUnit | None = None,
    sheet: str | None = None,
) -> SettlementImport:
    """Read a partner's settlement report and record its settlement lines (``record_partner_settlements``).

    Amounts are paise in Setu's reports (its documented fields are integers in paise) and rupees in any other
    partner's file, unless ``amounts`` says. Every row is read before anything is written: a file with a bad row
    records nothing and says which rows. Importing the same file again changes nothing.
    """
    unit: AmountUnit = amounts or ("paise" if partner == "setu" else "rupees")
    result = SettlementImport()
    lines: dict[str, _Line] = {}
    statuses: list[tuple[str, str]] = []
    for line_number, row in _settlement_rows(path, columns or {}, sheet):
        result.rows += 1
        status = cell_text(row.get("status")).strip().upper()
        ref = cell_text(row.get("payment_ref")).strip()
        utr = cell_text(row.get("settlement_ref")).strip()
        if status and status != "SETTLEMENT_SUCCESSFUL":
            result.not_settled[status] += 1
            if status in STATUS_WORDS and ref:
                statuses.append((ref, status))
            continue
        if not utr:
            result.not_settled["no UTR"] += 1
            continue
        try:
            if not ref:
                raise Refused("no payment reference")
            day = _day(row.get("settled_on"))
            settled = _amount(row.get("settled_amount"), unit)
            paid_cell = row.get("amount_paid")
            paid = _amount(paid_cell, unit) if cell_text(paid_cell).strip() else None
        except (Refused, AmountError) as exc:
            result.problems.append(f"line {line_number}: {exc}")
            continue
        line = lines.setdefault(utr, _Line(settled_on=day))
        if line.settled_on != day:
            result.problems.append(f"line {line_number}: UTR {utr} is dated {day} here and {line.settled_on} above")
            continue
        line.amount_paise += settled
        line.refs[ref] = paid
    if result.problems:
        return result
    source = f"file:{path.name}"
    recorded_lines = record_partner_settlements(
        session=session,
        partner=partner,
        settlements=[
            PartnerSettlement(utr, line.settled_on, line.amount_paise, line.refs) for utr, line in lines.items()
        ],
        source=source,
        now=now,
    )
    for recorded in recorded_lines:
        if recorded.created:
            result.lines_created += 1
        elif recorded.changed:
            result.lines_changed += 1
        else:
            result.lines_unchanged += 1
        result.payments_settled += len(recorded.payment_ids)
        result.unknown_refs.extend(recorded.unknown_refs)
    for ref, status in statuses:
        for payment in _payments_named(session, partner, ref):
            if note_partner_settlement_status(
                session=session, payment=payment, status_word=status, source=source, now=now
            ):
                result.statuses_noted += 1
    session.flush()
    return result


def _settlement_rows(
    path: Path, columns: Mapping[str, str], sheet: str | None
) -> Iterator[tuple[int, dict[str, object]]]:
    if path.suffix.casefold() == ".json":
        yield from _json_records(path)
        return
    yield from _rows(path, SETTLEMENT_REPORT, columns, sheet)


def _json_records(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    """The Reports API's answer saved as it came (``data.records``), or a bare list of its records."""
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ReconciliationFileError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ReconciliationFileError(f"{path.name} is not JSON ({exc})") from None
    records = document.get("data", {}).get("records") if isinstance(document, dict) else document
    if not isinstance(records, list):
        raise ReconciliationFileError(f"{path.name}: expected the Reports API's data.records, or a list of records")
    known = {spelling: ours for ours, names in SETTLEMENT_REPORT.spellings.items() for spelling in names}
    for number, record in enumerate(records, start=1):
        if isinstance(record, dict):
            yield number, {known[key]: value for key, value in record.items() if key in known}


def _rows(
    path: Path, vocabulary: Vocabulary, columns: Mapping[str, str], sheet: str | None
) -> Iterator[tuple[int, dict[str, object]]]:
    """Each record of a CSV or workbook as {our column: cell}, through the upload's readers."""
    try:
        source = open_source(path, vocabulary=vocabulary, sheet=sheet)
    except UploadFileError as exc:
        raise ReconciliationFileError(str(exc)) from None
    try:
        try:
            matched = match_columns(source.header, columns, required=vocabulary.required, vocabulary=vocabulary)
        except ValueError as exc:
            raise ReconciliationFileError(f"{path.name}: {exc}") from None
        positions = matched.positions
        try:
            for record in source.records():
                cells = record.cells
                if not any(cell_text(cell).strip() for cell in cells):
                    continue
                yield (
                    record.line,
                    {ours: cells[position] if position < len(cells) else None for ours, position in positions.items()},
                )
        except UploadFileError as exc:
            raise ReconciliationFileError(str(exc)) from None
    finally:
        source.close()


def _day(value: object) -> dt.date:
    """A date cell; an ISO timestamp with its zone (Setu's ``2020-12-12T10:54:30+05:30``) is its day in India."""
    if isinstance(value, str) and "T" in value:
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return moment.astimezone(IST).date() if moment.tzinfo else moment.date()
    if value is None or cell_text(value).strip() == "":
        raise Refused("no date")
    return date_from_cell(value, "dmy", short_years=True)  # HDFC's and others' exports write 28/11/26


def _amount(value: object, unit: AmountUnit) -> int:
    text = cell_text(value).strip()
    if not text:
        raise Refused("no amount")
    if unit == "paise":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if not re.fullmatch(r"-?[0-9]+", text):
            raise Refused(f"{text!r} is not a whole number of paise")
        return int(text)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return paise_from_spreadsheet_number(value)
    return paise_from_file_amount(text)


def _payments_named(session: Session, partner: str, ref: str) -> list[Payment]:
    query = sa.select(Payment).where(sa.or_(Payment.partner_txn_ref == ref, Payment.customer_txn_ref == ref))
    if partner in {channel.value for channel in Channel}:
        query = query.where(Payment.channel == Channel(partner))
    return list(session.scalars(query.with_for_update()))


# -- bank statements ----------------------------------------------------------------------------------------------


@dataclass
class BankImport:
    rows: int = 0
    added: int = 0
    already_imported: int = 0
    credits_paise: int = 0  # of the entries added
    debits_paise: int = 0
    without_utr: int = 0  # credits added with no UTR found
    problems: list[str] = field(default_factory=list)


# The UTR in a narration. NEFT/RTGS: a bank's code then digits (``UTIBR52024112345678``, ``N123241234567890``);
# UPI and IMPS: the 12-digit RRN. Separators are whatever banks use: - / * : or spaces.
_SEPARATORS = re.compile(r"[-/*:\s]+")
_NEFT_RTGS = re.compile(r"^(NEFT|RTGS)", re.IGNORECASE)
_UPI_IMPS = re.compile(r"^(UPI|IMPS)", re.IGNORECASE)
_BANK_UTR = re.compile(r"(?=[A-Z0-9]{12,22}\Z)[A-Z]{1,5}[0-9A-Z]*[0-9]{8,}[0-9A-Z]*")
_RRN = re.compile(r"[0-9]{12}")
_SKIP_WORDS = {"CR", "DR", "INW", "INWARD", "OUT", "P2A", "P2P", "BY", "TRANSFER", "TO", "FROM"}


def utr_from_narration(narration: str) -> str | None:
    """The UTR (or RRN) a bank wrote into a narration, or None."""
    tokens = [token for token in _SEPARATORS.split(narration.upper()) if token]
    for index, token in enumerate(tokens):
        words = tokens[index + 1 :]
        if _NEFT_RTGS.match(token):
            rest = _NEFT_RTGS.sub("", token)
            for candidate in ([rest] if rest else []) + words:
                if candidate in _SKIP_WORDS or _IFSC.fullmatch(candidate):
                    continue
                if _BANK_UTR.fullmatch(candidate):
                    return candidate
        if _UPI_IMPS.match(token):
            for candidate in words:
                if _RRN.fullmatch(candidate):
                    return candidate
    return None


_IFSC = re.compile(r"[A-Z]{4}0[A-Z0-9]{6}")


def import_bank_statement(
    *,
    session: Session,
    path: Path,
    now: dt.datetime,
    columns: Mapping[str, str] | None = None,
    sheet: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> BankImport:
    """Add a bank statement's entries; an entry imported before (from this file or an overlapping one) is skipped.

    Every row is read before anything is written: a bad row imports nothing and is named.
    """
    result = BankImport()
    parsed: list[dict[str, Any]] = []
    seen: Counter[tuple[object, ...]] = Counter()
    for line_number, row in _rows(path, BANK_STATEMENT, columns or {}, sheet):
        result.rows += 1
        try:
            entry = _bank_entry(row)
        except (Refused, AmountError) as exc:
            result.problems.append(f"line {line_number}: {exc}")
            continue
        if entry is None:
            continue  # a balance line, an opening or closing row: no money moved
        identity = (entry["value_date"], entry["amount_paise"], entry["credit"], entry["narration"], entry["ref"])
        seen[identity] += 1
        text = "|".join(str(part) for part in identity) + f"|{seen[identity]}"
        entry["fingerprint"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        parsed.append(entry)
    if result.problems:
        return result
    existing = set()
    fingerprints = [entry["fingerprint"] for entry in parsed]
    for chunk in in_chunks(fingerprints):
        existing.update(session.scalars(sa.select(BankEntry.fingerprint).where(BankEntry.fingerprint.in_(chunk))))
    for count, entry in enumerate(parsed, start=1):
        if entry["fingerprint"] in existing:
            result.already_imported += 1
            continue
        utr = utr_from_narration(entry["narration"]) or _reference_utr(entry["ref"])
        session.add(
            BankEntry(
                value_date=entry["value_date"],
                amount_paise=entry["amount_paise"],
                credit=entry["credit"],
                narration=entry["narration"][:500],
                utr=utr,
                fingerprint=entry["fingerprint"],
                source_file=path.name[:255],
                imported_at=now,
            )
        )
        result.added += 1
        if entry["credit"]:
            result.credits_paise += entry["amount_paise"]
            result.without_utr += utr is None
        else:
            result.debits_paise += entry["amount_paise"]
        if on_progress is not None and count % 500 == 0:
            on_progress(count)
    session.flush()
    return result


def _bank_entry(row: Mapping[str, object]) -> dict[str, Any] | None:
    narration = cell_text(row.get("narration")).strip()
    date_cell = row.get("value_date") if cell_text(row.get("value_date")).strip() else row.get("date")
    credit_text, debit_text = cell_text(row.get("credit")).strip(), cell_text(row.get("debit")).strip()
    amount_text = cell_text(row.get("amount")).strip()
    if not (credit_text or debit_text or amount_text):
        return None
    if "credit" in row or "debit" in row:
        if _nonzero(credit_text) and _nonzero(debit_text):
            raise Refused("both a withdrawal and a deposit")
        credit = _nonzero(credit_text)
        cell = row.get("credit") if credit else row.get("debit")
        if not credit and not _nonzero(debit_text):
            return None
    else:
        direction = cell_text(row.get("direction")).strip().upper()
        if direction in ("CR", "C", "CREDIT", "DEPOSIT"):
            credit = True
        elif direction in ("DR", "D", "DEBIT", "WITHDRAWAL") or amount_text.startswith("-"):
            credit = False
        elif amount_text.upper().endswith("CR") or amount_text.upper().endswith("DR"):
            credit = amount_text.upper().endswith("CR")
        else:
            raise Refused("no Dr/Cr: say which column does with --column direction=NAME")
        cell = amount_text.lstrip("-").upper().removesuffix("CR").removesuffix("DR").strip()
    if date_cell is None or not cell_text(date_cell).strip():
        raise Refused("no date")
    amount = _amount(cell, "rupees")
    if amount <= 0:
        raise Refused("an amount of zero")
    return {
        "value_date": _day(date_cell),
        "amount_paise": amount,
        "credit": credit,
        "narration": narration,
        "ref": cell_text(row.get("reference")).strip(),
    }


def _nonzero(text: str) -> bool:
    return bool(text) and text.strip("0.,- ") != ""


def _reference_utr(reference: str) -> str | None:
    """A bank's reference column as a UTR: HDFC pads a UPI RRN with zeros (``0000432112345678``)."""
    text = reference.strip().upper().lstrip("0")
    if len(text) >= 10 and text.isascii() and text.isalnum() and sum(char.isdigit() for char in text) >= 8:
        return text
    return None
