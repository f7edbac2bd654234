"""Write the sample upload files the tests read: as lenders' loan systems and Excel write them.

The files are committed; run this again only to change them (`.venv/bin/python tests/samples/upload/make_samples.py`).
The tests fix "today" at 2026-11-01, so every bill here is raised in October 2026 and falls due after it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent


def write_csv(name: str, lines: list[str]) -> None:
    """As Excel's "CSV UTF-8" writes it: a byte-order mark and Windows line ends."""
    (HERE / name).write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))


# A loan system's export: a title line, its own column names, extra columns, Indian amounts, dates and mobiles.
LENDER_EXPORT = [
    "ABC Microfinance Ltd - EMI demand for November 2026,,,,,,,,,,,,,,",
    "Sr No,Branch,Customer ID,Customer Name,Mobile No,Loan A/c No,EMI ID,Description,EMI Amount,Due Date,Bill Date,"
    "Exactness,Min Amount,Max Amount,DPD",
    '1,Madurai,CUST1001,Asha Devi,+91 98765 43210,LAN-2001,LAN-2001-05,Instalment 5 of 12,"2,450.00",05/11/2026,'
    "01/10/2026,EXACT,,,0",
    '2,Madurai,CUST1001,Asha Devi,+91 98765 43210,LAN-2001,LAN-2001-06,Instalment 6 of 12,"₹ 2,450",05-12-2026,'
    "01/10/2026,EXACT,,,0",
    '3,Salem,CUST1002,Ravi Kumar,91-9876543211,LAN-2002,LAN-2002-03,Instalment 3 of 24,"1,23,456.50",10-Nov-2026,'
    "15-Oct-2026,EXACT_UP,,,12",
    "4,Salem,CUST1003,Meena S,09876543212,LAN-2003,LAN-2003-01,Instalment 1 of 6,Rs. 2450/-,2026-11-20,2026-10-20,"
    'RANGE,"1,000","2,450",0',
    '5,Erode,CUST1004,Fatima Khan,,LAN-2004,LAN-2004-09,Instalment 9 of 12,"123,456.50",20/11/2026 00:00,'
    "20/10/2026 00:00,exact,,,45",
]

# The same file a month-first tool wrote: only --date-order mdy reads it.
MONTH_FIRST = [
    "customer_id,customer_name,mobile,loan_account_number,partner_bill_id,bill_name,amount,due_date,generated_date,"
    "amount_exactness",
    "CUST2001,Joseph Das,9876500001,LAN-3001,LAN-3001-01,Instalment 1 of 12,1500,11/15/2026,10/20/2026,EXACT",
    "CUST2002,Kavita Iyer,9876500002,LAN-3002,LAN-3002-01,Instalment 1 of 12,1500,12/05/2026,10/25/2026,EXACT",
]

# One row per kind of refusal (the line numbers are the tests' expectations), around good rows.
REFUSALS = [
    "Customer ID,Customer Name,Mobile No,Loan A/c No,EMI ID,Description,EMI Amount,Due Date,Bill Date,Exactness",
    'CUST5001,Suresh Nair,9876511111,LAN-5001,LAN-5001-01,Instalment 1 of 6,"2,450.00",05/11/2026,01/10/2026,EXACT',
    'CUST5002,Lakshmi Reddy,9876522222,LAN-5002,LAN-5002-01,Instalment 1 of 6,"2,450.505",05/11/2026,01/10/2026,EXACT',
    'CUST5003,Arjun Singh,9876533333,LAN-5003,LAN-5003-01,Instalment 1 of 6,"24,50",05/11/2026,01/10/2026,EXACT',
    "CUST5004,Imran Khan,9876544444,LAN-5004,LAN-5004-01,Instalment 1 of 6,-2450,05/11/2026,01/10/2026,EXACT",
    "CUST5005,Priya Das,9876555555,LAN-5005,LAN-5005-01,Instalment 1 of 6,२४५०,05/11/2026,01/10/2026,EXACT",
    "CUST5006,Gopal Rao,98765,LAN-5006,LAN-5006-01,Instalment 1 of 6,2450,05/11/2026,01/10/2026,EXACT",
    "CUST5007,Anita Roy,9.87654E+09,LAN-5007,LAN-5007-01,Instalment 1 of 6,2450,05/11/2026,01/10/2026,EXACT",
    "CUST5008,Deepak Jain,+1 415 555 0100,LAN-5008,LAN-5008-01,Instalment 1 of 6,2450,05/11/2026,01/10/2026,EXACT",
    "CUST5009,Rekha Pillai,9876599999,LAN-5009,LAN-5009-01,Instalment 1 of 6,2450,31/11/2026,01/10/2026,EXACT",
    "CUST5010,Mohan Lal,9876500010,LAN-5010,LAN-5010-01,Instalment 1 of 6,2450,05/11/26,01/10/2026,EXACT",
    "CUST5011,Sunita Devi,9876500011,LAN-5011,LAN-5011-01,Instalment 1 of 6,2450,11/25/2026,10/01/2026,EXACT",
    "CUST5012,Vikram Shah,9876500012,LAN-5012,LAN-5012-01,Instalment 1 of 6,2450,05/10/2026,20/10/2026,EXACT",
    'CUST5013,Nisha Gupta,=HYPERLINK("http://example.invalid"),LAN-5013,LAN-5013-01,Instalment 1 of 6,2450,'
    "05/11/2026,01/10/2026,EXACT",
    "CUST5001,Suresh Nair,9876511111,LAN-5001,LAN-5001-01,Instalment 1 of 6,2450,05/11/2026,01/10/2026,EXACT",
    "CUST5001,Suresh N,9876511111,LAN-5001,LAN-5001-02,Instalment 2 of 6,2450,05/12/2026,01/10/2026,EXACT",
    'CUST5014,Ramesh Babu,9876500014,LAN-5014,LAN-5014-01,Instalment 1 of 6,"1,200",15/11/2026,01/10/2026,EXACT',
]

# Column names nobody could guess, and the --columns map that names them.
OWN_NAMES = [
    "Cust Ref,Borrower,Cell,Facility,Demand Ref,Narration,Demand Amt,Pay By,Raised On,Amt Type,Centre",
    "CUST6001,Rahul Verma,9876560001,LAN-6001,LAN-6001-01,Instalment 1 of 10,999.50,15/11/2026,15/10/2026,EXACT,C-12",
]
OWN_NAMES_MAP = """# Our column = the file's column
customer_id = Cust Ref
customer_name = Borrower
mobile = Cell
loan_account_number = Facility
partner_bill_id = Demand Ref
bill_name = Narration
amount = Demand Amt
due_date = Pay By
generated_date = Raised On
amount_exactness = Amt Type
"""

# Bills to cancel, as a lender would list them: a column of its spreadsheet, under its own name.
BILL_IDS = ["Loan A/c No,EMI ID", "LAN-2001,LAN-2001-05", "LAN-2001,LAN-2001-06", ",", "LAN-2001,LAN-2001-06"]


def lender_workbook() -> None:
    """An Excel workbook as a loan system exports it: typed cells, a title row, two months on two sheets."""
    workbook = Workbook()
    november = workbook.active
    november.title = "Demand Nov"
    november.append(["ABC Microfinance Ltd — EMI demand, November 2026"])
    november.append([])
    november.append(["Customer ID", "CUSTOMER_NAME", "Mobile Number", "Loan A/c No", "Bill No", "Bill Description",
                     "Amount Due", "EMI Due Date", "Demand Date", "exactness", "Branch", "Product"])  # fmt: skip
    november.append(["CUST7001", "Asha Devi", 9876543210, "LAN-7001", "LAN-7001-05", "Instalment 5 of 12",
                     2450.0, dt.date(2026, 11, 5), dt.date(2026, 10, 1), "EXACT", "Madurai", "JLG"])  # fmt: skip
    november.append(["CUST7002", "Ravi Kumar", 9876543211.0, "LAN-7002", "LAN-7002-03", "Instalment 3 of 24",
                     123456.5, dt.datetime(2026, 11, 10, 0, 0), dt.datetime(2026, 10, 15, 0, 0), "EXACT_UP",
                     "Salem", "MSME"])  # fmt: skip
    november.append(["CUST7003", "Meena S", "09876543212", 7003, "LAN-7003-01", "Instalment 1 of 6",
                     1800, 46346, dt.date(2026, 10, 20), "RANGE", "Salem", "JLG", ])  # fmt: skip
    november.append([])
    november.append(["CUST7004", "Fatima Khan", None, "LAN-7004", "LAN-7004-09", "Instalment 9 of 12",
                     2450.1000000000004, "20/11/2026", "20-Oct-2026", "EXACT", "Erode", "JLG"])  # fmt: skip
    for row in november.iter_rows(min_row=4):
        for cell in row[7:9]:
            if isinstance(cell.value, dt.date):
                cell.number_format = "dd-mm-yyyy"
    # A RANGE bill needs its bounds: in this export they are the last two columns.
    november["M3"], november["N3"] = "Min Amount", "Max Amount"
    november["M6"], november["N6"] = 500, 1800
    december = workbook.create_sheet("Demand Dec")
    december.append(["Customer ID", "Customer Name", "Mobile No", "Loan A/c No", "EMI ID", "Description",
                     "EMI Amount", "Due Date", "Bill Date", "Exactness"])  # fmt: skip
    december.append(["CUST7001", "Asha Devi", 9876543210, "LAN-7001", "LAN-7001-06", "Instalment 6 of 12",
                     2450, dt.date(2026, 12, 5), dt.date(2026, 10, 1), "EXACT"])  # fmt: skip
    workbook.save(HERE / "lender_export.xlsx")


def refusals_workbook() -> None:
    """A workbook whose typed cells are wrong in the ways Excel allows."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Bills"
    sheet.append(["Customer ID", "Customer Name", "Mobile No", "Loan A/c No", "EMI ID", "Description",
                  "EMI Amount", "Due Date", "Bill Date", "Exactness"])  # fmt: skip
    good = ["CUST8001", "Good Row", 9876580001, "LAN-8001", "LAN-8001-01", "Instalment 1 of 6", 2450,
            dt.date(2026, 11, 5), dt.date(2026, 10, 1), "EXACT"]  # fmt: skip
    sheet.append(good)
    sheet.append([*good[:4], "LAN-8001-02", good[5], 2450.505, *good[7:]])
    sheet.append([*good[:2], 12345, good[3], "LAN-8001-03", *good[5:]])
    sheet.append([*good[:4], "LAN-8001-04", *good[5:7], "31/11/2026", *good[8:]])
    sheet.append([*good[:4], "LAN-8001-05", *good[5:7], dt.time(10, 30), *good[8:]])
    sheet.append([*good[:4], "LAN-8001-06", good[5], 0, *good[7:]])
    sheet.append([*good[:4], "LAN-8001-07", *good[5:8], dt.date(2026, 11, 2), good[9]])
    sheet.append([*good[:4], "LAN-8001-08", *good[5:7], 12.5, *good[8:]])
    workbook.save(HERE / "refusals.xlsx")


def main() -> None:
    write_csv("lender_export.csv", LENDER_EXPORT)
    write_csv("month_first.csv", MONTH_FIRST)
    write_csv("refusals.csv", REFUSALS)
    write_csv("own_names.csv", OWN_NAMES)
    (HERE / "own_names.columns").write_text(OWN_NAMES_MAP, encoding="utf-8")
    write_csv("bill_ids.csv", BILL_IDS)
    lender_workbook()
    refusals_workbook()


if __name__ == "__main__":
    main()
