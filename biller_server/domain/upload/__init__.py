"""Admin bill upload: a lender's CSV or Excel file of instalments, checked row by row (``reader``, ``xlsx``,
``formats``), then across rows and planned through a staging table (``store``), then written in batches of whole
customers (``loader.upload_bills``), each run recorded (``runs``); refused rows can be written out (``rejects``).
docs/bill-upload.md describes the file, the rules and what a crash leaves.
"""

from biller_server.domain.upload.loader import (
    BATCH_SIZE,
    Conflict,
    UploadReport,
    describe_change,
    upload_bills,
)
from biller_server.domain.upload.reader import (
    COLUMNS,
    BillFile,
    BillRow,
    RejectedRow,
    open_bill_csv,
    open_bill_file,
    template_csv,
)
from biller_server.domain.upload.runs import UploadBusy, UploadSource
from biller_server.domain.upload.source import UploadFileError
from biller_server.domain.upload.store import BillChange, CustomerChange

__all__ = [
    "BATCH_SIZE",
    "COLUMNS",
    "BillChange",
    "BillFile",
    "BillRow",
    "Conflict",
    "CustomerChange",
    "RejectedRow",
    "UploadBusy",
    "UploadFileError",
    "UploadReport",
    "UploadSource",
    "describe_change",
    "open_bill_csv",
    "open_bill_file",
    "template_csv",
    "upload_bills",
]
