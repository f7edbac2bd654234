"""Settlement reconciliation: what partners settled, what the bank received, and what does not match.

The public door for every source of settlement news is ``record_partner_settlement`` (plain values: partner,
settlement reference/UTR, date, amount in paise, the payments' references, source, now). A partner's channel (Setu's
BILL_SETTLEMENT_STATUS notification), a report file (``import_settlement_report``) or a status answer
(``note_partner_settlement_status``) all come through here. docs/reconciliation.md is the operator's routine.
"""

from biller_server.domain.settlement.files import (
    BankImport,
    ReconciliationFileError,
    SettlementImport,
    import_bank_statement,
    import_settlement_report,
    utr_from_narration,
)
from biller_server.domain.settlement.lines import (
    RecordedSettlement,
    SettlementRefused,
    note_partner_settlement_status,
    record_partner_settlement,
)
from biller_server.domain.settlement.matching import (
    SETTLEMENT_CSV_HEADER,
    AckRefused,
    Break,
    BreakKind,
    Match,
    SettlementReport,
    Unreconciled,
    ack_break,
    open_breaks_older_than_a_day,
    settlement_csv_rows,
    settlement_report,
    unreconciled_older_than_a_day,
)

__all__ = [
    "SETTLEMENT_CSV_HEADER",
    "AckRefused",
    "BankImport",
    "Break",
    "BreakKind",
    "Match",
    "ReconciliationFileError",
    "RecordedSettlement",
    "SettlementImport",
    "SettlementRefused",
    "SettlementReport",
    "Unreconciled",
    "ack_break",
    "import_bank_statement",
    "import_settlement_report",
    "note_partner_settlement_status",
    "open_breaks_older_than_a_day",
    "record_partner_settlement",
    "settlement_csv_rows",
    "settlement_report",
    "unreconciled_older_than_a_day",
    "utr_from_narration",
]
