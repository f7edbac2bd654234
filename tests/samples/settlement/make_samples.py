"""Write the reconciliation sample files the tests read: a Setu settlement report, a Kaleidofin file read through a
column map, and a bank statement as HDFC's NetBanking exports it (CSV with title lines, and the same as .xlsx).

The files are committed; run this again only to change them
(`.venv/bin/python tests/samples/settlement/make_samples.py`). The day they reconcile is 28 November 2026.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent

# Setu's Reports API record fields (setu-reports.mdx), amounts in paise. Charges (bpcTotal 400 + gstTotal 72) come
# off each payment before it is settled to the primary account.
SETU_HEADER = [
    "platformBillID", "billerBillID", "platformBillStatus", "amountPaid", "paymentInstrument", "paymentDate",
    "paymentReferenceID", "paymentReceipt", "settlementDate", "settlementUtr", "primaryAccountNumber",
    "primaryAccountIfsc", "primaryAccountSettlementAmount", "bpcTotal", "gstTotal",
]  # fmt: skip
SETU_ROWS = [
    ["517002663317996601", "LAN-2001-05", "SETTLEMENT_SUCCESSFUL", "245000", "UPI", "2026-11-27T10:05:30+05:30",
     "SETU-PAY-0001", "rcpt-0001", "2026-11-28T10:54:30+05:30", "CMS261128000A01", "XXXXXXXX060510",
     "KKBK0000431", "244528", "400", "72"],
    ["517002663317996602", "LAN-2002-03", "SETTLEMENT_SUCCESSFUL", "180050", "UPI", "2026-11-27T11:15:00+05:30",
     "SETU-PAY-0002", "rcpt-0002", "2026-11-28T10:54:30+05:30", "CMS261128000A01", "XXXXXXXX060510",
     "KKBK0000431", "179578", "400", "72"],
    ["517002663317996603", "LAN-2003-01", "SETTLEMENT_SUCCESSFUL", "100000", "Internet Banking",
     "2026-11-27T16:40:10+05:30", "SETU-PAY-0003", "rcpt-0003", "2026-11-28T10:54:30+05:30", "CMS261128000A01",
     "XXXXXXXX060510", "KKBK0000431", "99528", "400", "72"],
    ["517002663317996604", "LAN-2004-09", "SETTLEMENT_SUCCESSFUL", "50000", "UPI", "2026-11-27T18:02:44+05:30",
     "SETU-PAY-0004", "rcpt-0004", "2026-11-28T17:20:00+05:30", "CMS261128000A02", "XXXXXXXX060510",
     "KKBK0000431", "49528", "400", "72"],
    ["517002663317996605", "LAN-9999-01", "SETTLEMENT_SUCCESSFUL", "75000", "UPI", "2026-11-27T19:30:00+05:30",
     "SETU-PAY-9999", "rcpt-9999", "2026-11-28T17:20:00+05:30", "CMS261128000A02", "XXXXXXXX060510",
     "KKBK0000431", "74528", "400", "72"],
    ["517002663317996606", "LAN-2005-02", "CREDIT_RECEIVED", "120000", "UPI", "2026-11-28T09:12:00+05:30",
     "SETU-PAY-0005", "rcpt-0005", "", "", "XXXXXXXX060510", "KKBK0000431", "", "400", "72"],
]  # fmt: skip

# A partner whose file we had not seen: its own column names, amounts in rupees, its batch id in place of a UTR
# for one line (matched by partner, date and amount) and the bank's UTR for the other (whose amount differs).
KALEIDOFIN_ROWS = [
    ["Txn Ref", "Batch Ref", "Credit Date", "Gross Amt", "Net Amt", "Remarks"],
    ["KF-TXN-1001", "KF-SET-20261128-01", "28-11-2026", "1,500.00", "1,500.00", "BBPS collection"],
    ["KF-TXN-1002", "KF-SET-20261128-01", "28-11-2026", "2,000.00", "2,000.00", "BBPS collection"],
    ["KF-TXN-1003", "N332261234500001", "28-11-2026", "3,000.00", "3,000.00", "BBPS collection"],
]
KALEIDOFIN_COLUMNS = """# Kaleidofin's settlement file: ours=theirs
payment_ref=Txn Ref
settlement_ref=Batch Ref
settled_on=Credit Date
amount_paid=Gross Amt
settled_amount=Net Amt
"""

# HDFC NetBanking's statement export: title lines, then Date, Narration, Chq./Ref.No., Value Dt, Withdrawal Amt.,
# Deposit Amt., Closing Balance.
BANK_TITLE = [
    ["HDFC BANK Ltd.", "", "", "", "", "", ""],
    ["Statement of account: LENDER FINANCE PVT LTD - XXXXXXXX060510", "", "", "", "", "", ""],
    ["From : 27/11/2026  To : 29/11/2026", "", "", "", "", "", ""],
]
BANK_HEADER = ["Date", "Narration", "Chq./Ref.No.", "Value Dt", "Withdrawal Amt.", "Deposit Amt.", "Closing Balance"]
BANK_ROWS = [
    ["28/11/2026", "NEFT CR-KKBK0000431-SETU TECHNOLOGIES PVT LTD-LENDER FINANCE PVT LTD-CMS261128000A01",
     "CMS261128000A01", "28/11/2026", "", "5,236.34", "10,05,236.34"],
    ["28/11/2026", "NEFT-N332261234567890-KALEIDOFIN PRIVATE LIMITED-LENDER FINANCE", "N332261234567890",
     "28/11/2026", "", "3,500.00", "10,08,736.34"],
    ["28/11/2026", "NEFT-N332261234500001-KALEIDOFIN PRIVATE LIMITED-LENDER FINANCE", "N332261234500001",
     "28/11/2026", "", "2,990.00", "10,11,726.34"],
    ["28/11/2026", "IMPS/P2A/633212345678/RAMESH KUMAR/SBIN0001234/LOAN REPAY", "0000633212345678",
     "28/11/2026", "", "2,500.00", "10,14,226.34"],
    ["28/11/2026", "UPI/432112345678/LOAN EMI/asha@okaxis/AXIS BANK", "0000432112345678", "28/11/2026", "",
     "1,000.00", "10,15,226.34"],
    ["28/11/2026", "NEFT CHGS INCL GST 1.80", "", "28/11/2026", "11.80", "", "10,15,214.54"],
]  # fmt: skip


def _csv_text(rows: list[list[str]]) -> str:
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(rows)
    return text.getvalue()


def main() -> None:
    (HERE / "setu_settlement_2026-11-28.csv").write_text(_csv_text([SETU_HEADER, *SETU_ROWS]), encoding="utf-8")
    (HERE / "kaleidofin_settlement_2026-11-28.csv").write_text(_csv_text(KALEIDOFIN_ROWS), encoding="utf-8")
    (HERE / "kaleidofin.columns").write_text(KALEIDOFIN_COLUMNS, encoding="utf-8")
    bank = [*BANK_TITLE, BANK_HEADER, *BANK_ROWS]
    (HERE / "hdfc_statement_2026-11-28.csv").write_bytes(("\ufeff" + _csv_text(bank)).encode("utf-8"))
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Statement"
    for row in bank:
        sheet.append(row)
    workbook.save(HERE / "hdfc_statement_2026-11-28.xlsx")


if __name__ == "__main__":
    main()
