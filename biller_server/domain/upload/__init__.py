"""Admin bill upload: a lender's CSV of instalments, checked row by row (``reader``), then across rows and written
set-based through a staging table (``store``); ``loader.upload_bills`` runs the whole upload in the caller's
transaction. docs/bill-upload.md describes the file and the rules.
"""

from biller_server.domain.upload.loader import BATCH_SIZE, Conflict, UploadReport, upload_bills
from biller_server.domain.upload.reader import (
    COLUMNS,
    BillCsv,
    BillRow,
    RejectedRow,
    UploadFileError,
    open_bill_csv,
    template_csv,
)

__all__ = [
    "BATCH_SIZE",
    "COLUMNS",
    "BillCsv",
    "BillRow",
    "Conflict",
    "RejectedRow",
    "UploadFileError",
    "UploadReport",
    "open_bill_csv",
    "template_csv",
    "upload_bills",
]
