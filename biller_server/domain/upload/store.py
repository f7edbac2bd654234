"""The set-based side of a bill upload: a staging table, the checks across rows, and the upsert into the books.

Valid rows stream into a TEMP staging table (PostgreSQL: COPY; SQLite: batched executemany); every check that
needs more than one row, and every write, is then one SQL statement over the whole file. So Python keeps no
per-row state, and the statements are the same on both databases (SQLite 3.33+ for UPDATE ... FROM).

Everything runs on the caller's session, inside the caller's transaction: nothing here commits.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.upload.reader import BillRow
from biller_server.persistence.types import UTCDateTime

_STAGING_COLUMNS = (
    "line_no, customer_id, customer_name, mobile, loan_account_number, partner_bill_id, bill_name, "
    "amount_paise, exactness, min_amount_paise, max_amount_paise, due_date, generated_date"
)
_CREATE_STAGING = """
CREATE TEMP TABLE bill_upload_rows (
    line_no BIGINT NOT NULL,
    customer_id TEXT NOT NULL,
    customer_name TEXT NOT NULL,
    mobile TEXT,
    loan_account_number TEXT,
    partner_bill_id TEXT NOT NULL,
    bill_name TEXT NOT NULL,
    amount_paise BIGINT NOT NULL,
    exactness TEXT NOT NULL,
    min_amount_paise BIGINT,
    max_amount_paise BIGINT,
    due_date DATE NOT NULL,
    generated_date DATE NOT NULL
)
"""
_CREATE_REJECTS = (
    "CREATE TEMP TABLE bill_upload_rejects (line_no BIGINT NOT NULL, rule TEXT NOT NULL, first_line BIGINT)"
)
_TEMP_TABLES = (
    "bill_upload_rows",
    "bill_upload_rejects",
    "bill_upload_customers",
    "bill_upload_changes",
    "bill_upload_moved_loans",
)

# A later row with a partner_bill_id already seen in the file; the first one stands.
_FIND_DUPLICATE_BILLS = """
INSERT INTO bill_upload_rejects (line_no, rule, first_line)
SELECT s.line_no, 'duplicate_bill', f.first_line
FROM bill_upload_rows s
JOIN (
    SELECT partner_bill_id, MIN(line_no) AS first_line
    FROM bill_upload_rows GROUP BY partner_bill_id HAVING COUNT(*) > 1
) f ON f.partner_bill_id = s.partner_bill_id
WHERE s.line_no > f.first_line
"""
# A row whose customer has another name or mobile on the customer's first line in the file.
_FIND_INCONSISTENT_CUSTOMERS = """
INSERT INTO bill_upload_rejects (line_no, rule, first_line)
SELECT line_no, 'customer', first_line FROM (
    SELECT line_no, customer_name, COALESCE(mobile, '') AS mobile,
           FIRST_VALUE(line_no) OVER first_row AS first_line,
           FIRST_VALUE(customer_name) OVER first_row AS first_name,
           FIRST_VALUE(COALESCE(mobile, '')) OVER first_row AS first_mobile
    FROM bill_upload_rows
    WHERE line_no NOT IN (SELECT line_no FROM bill_upload_rejects)
    WINDOW first_row AS (PARTITION BY customer_id ORDER BY line_no)
) per_customer
WHERE customer_name <> first_name OR mobile <> first_mobile
"""
_LIST_REJECTS = """
SELECT r.line_no, r.rule, r.first_line, s.partner_bill_id, s.customer_id, s.customer_name, s.mobile,
       f.customer_name AS first_name, f.mobile AS first_mobile
FROM bill_upload_rejects r
JOIN bill_upload_rows s ON s.line_no = r.line_no
JOIN bill_upload_rows f ON f.line_no = r.first_line
ORDER BY r.line_no
"""
_DELETE_REJECTED = "DELETE FROM bill_upload_rows WHERE line_no IN (SELECT line_no FROM bill_upload_rejects)"

_CREATE_CUSTOMERS = """
CREATE TEMP TABLE bill_upload_customers AS
SELECT customer_id, MIN(customer_name) AS customer_name, MIN(mobile) AS mobile, MIN(line_no) AS first_line
FROM bill_upload_rows GROUP BY customer_id
"""
_CUSTOMER_DIFFERS = "(c.name <> sc.customer_name OR COALESCE(c.mobile, '') <> COALESCE(sc.mobile, ''))"
_COUNT_CUSTOMERS = f"""
SELECT COALESCE(SUM(CASE WHEN c.id IS NULL THEN 1 ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN c.id IS NOT NULL AND {_CUSTOMER_DIFFERS} THEN 1 ELSE 0 END), 0)
FROM bill_upload_customers sc LEFT JOIN customers c ON c.lender_customer_id = sc.customer_id
"""  # noqa: S608 - composed of this module's constants only

# s: the staged row, b: the bill with its partner_bill_id, oc: the customer the bill belongs to now.
_SAME_BILL = """(
    oc.lender_customer_id = s.customer_id
    AND b.name = s.bill_name
    AND b.amount_paise = s.amount_paise
    AND b.exactness = s.exactness
    AND COALESCE(b.loan_account_number, '') = COALESCE(s.loan_account_number, '')
    AND COALESCE(b.min_amount_paise, 0) = COALESCE(s.min_amount_paise, 0)
    AND COALESCE(b.max_amount_paise, 0) = COALESCE(s.max_amount_paise, 0)
    AND b.due_date = s.due_date
    AND b.generated_date = s.generated_date
)"""
# A bill the upload must not change: cancelled, or with any payment at all. paid_paise is checked too because
# PostgreSQL rechecks it on the locked row, so a payment committed while the upload runs is seen.
_LOCKED_BILL = """(
    b.status = 'CANCELLED' OR b.paid_paise <> 0 OR EXISTS (SELECT 1 FROM payments p WHERE p.bill_id = b.id)
)"""
_COUNT_EXISTING_BILLS = """
SELECT COUNT(*) FROM bill_upload_rows s WHERE EXISTS (SELECT 1 FROM bills b WHERE b.partner_bill_id = s.partner_bill_id)
"""
# The rows whose bill exists and differs from them: an update, or (locked) a conflict. Usually few, so every
# later step about existing bills works from this small table instead of joining the whole file to bills again.
_CREATE_CHANGES = f"""
CREATE TEMP TABLE bill_upload_changes AS
SELECT s.line_no, b.id AS bill_id, b.status, b.customer_id AS old_customer_pk,
       b.loan_account_number AS old_loan_account_number,
       CASE WHEN oc.lender_customer_id <> s.customer_id THEN 1 ELSE 0 END AS moved,
       CASE WHEN {_LOCKED_BILL} THEN 1 ELSE 0 END AS locked
FROM bill_upload_rows s
JOIN bills b ON b.partner_bill_id = s.partner_bill_id
JOIN customers oc ON oc.id = b.customer_id
WHERE NOT {_SAME_BILL}
"""  # noqa: S608 - composed of this module's constants only
_COUNT_CHANGES = """
SELECT COALESCE(SUM(1 - locked), 0), COALESCE(SUM(locked), 0) FROM bill_upload_changes
"""
_LIST_CONFLICTS = """
SELECT ch.line_no, s.partner_bill_id, ch.status
FROM bill_upload_changes ch JOIN bill_upload_rows s ON s.line_no = ch.line_no
WHERE ch.locked = 1
ORDER BY ch.line_no
"""

_DELETE_OLD_MOBILES = f"""
DELETE FROM customer_identifiers WHERE kind = 'mobile' AND id IN (
    SELECT ci.id FROM customer_identifiers ci
    JOIN customers c ON c.id = ci.customer_id
    JOIN bill_upload_customers sc ON sc.customer_id = c.lender_customer_id
    WHERE ci.kind = 'mobile' AND ci.value = c.mobile AND {_CUSTOMER_DIFFERS}
)
"""  # noqa: S608 - composed of this module's constants only
_UPDATE_CUSTOMERS = f"""
UPDATE customers AS c SET name = sc.customer_name, mobile = sc.mobile, updated_at = :now
FROM bill_upload_customers sc
WHERE c.lender_customer_id = sc.customer_id AND {_CUSTOMER_DIFFERS}
"""  # noqa: S608 - composed of this module's constants only
# In file order, so that ids (and the indexes on them) grow the way the file does.
_INSERT_CUSTOMERS = """
INSERT INTO customers (lender_customer_id, name, mobile, created_at, updated_at)
SELECT sc.customer_id, sc.customer_name, sc.mobile, :now, :now
FROM bill_upload_customers sc
WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.lender_customer_id = sc.customer_id)
ORDER BY sc.first_line
"""
# Sorted like the unique index on (kind, value), so that it grows in order rather than at random places.
_INSERT_CUSTOMER_IDENTIFIERS = """
INSERT INTO customer_identifiers (customer_id, kind, value)
SELECT c.id, 'customer_id', c.lender_customer_id
FROM bill_upload_customers sc JOIN customers c ON c.lender_customer_id = sc.customer_id
WHERE NOT EXISTS (
    SELECT 1 FROM customer_identifiers ci
    WHERE ci.customer_id = c.id AND ci.kind = 'customer_id' AND ci.value = c.lender_customer_id
)
UNION ALL
SELECT c.id, 'mobile', c.mobile
FROM bill_upload_customers sc JOIN customers c ON c.lender_customer_id = sc.customer_id
WHERE c.mobile IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM customer_identifiers ci WHERE ci.customer_id = c.id AND ci.kind = 'mobile' AND ci.value = c.mobile
)
ORDER BY 2, 3
"""
# Loan numbers that an update takes away from a customer (a new number, or the bill moved to another customer);
# after the update, an identifier that no bill of the customer still carries is removed.
_CREATE_MOVED_LOANS = """
CREATE TEMP TABLE bill_upload_moved_loans AS
SELECT DISTINCT ch.old_customer_pk AS customer_pk, ch.old_loan_account_number AS loan_account_number
FROM bill_upload_changes ch JOIN bill_upload_rows s ON s.line_no = ch.line_no
WHERE ch.locked = 0 AND ch.old_loan_account_number IS NOT NULL
  AND (ch.moved = 1 OR ch.old_loan_account_number <> COALESCE(s.loan_account_number, ''))
"""
_DELETE_MOVED_LOAN_IDENTIFIERS = """
DELETE FROM customer_identifiers WHERE kind = 'loan_account_number' AND id IN (
    SELECT ci.id FROM customer_identifiers ci
    JOIN bill_upload_moved_loans m ON m.customer_pk = ci.customer_id AND m.loan_account_number = ci.value
    WHERE ci.kind = 'loan_account_number' AND NOT EXISTS (
        SELECT 1 FROM bills b WHERE b.customer_id = ci.customer_id AND b.loan_account_number = ci.value
    )
)
"""
_UPDATE_BILLS = f"""
UPDATE bills AS b SET
    customer_id = nc.id,
    loan_account_number = s.loan_account_number,
    name = s.bill_name,
    amount_paise = s.amount_paise,
    exactness = s.exactness,
    min_amount_paise = s.min_amount_paise,
    max_amount_paise = s.max_amount_paise,
    due_date = s.due_date,
    generated_date = s.generated_date,
    updated_at = :now
FROM bill_upload_changes ch, bill_upload_rows s, customers nc
WHERE b.id = ch.bill_id
  AND ch.locked = 0
  AND s.line_no = ch.line_no
  AND nc.lender_customer_id = s.customer_id
  AND NOT {_LOCKED_BILL}
"""  # noqa: S608 - composed of this module's constants only
# In file order, so that the indexes on bills grow at their right edge when the file is sorted, as exports are.
_INSERT_BILLS = """
INSERT INTO bills (customer_id, partner_bill_id, loan_account_number, name, amount_paise, paid_paise, exactness,
                   min_amount_paise, max_amount_paise, due_date, generated_date, status, created_at, updated_at)
SELECT c.id, s.partner_bill_id, s.loan_account_number, s.bill_name, s.amount_paise, 0, s.exactness,
       s.min_amount_paise, s.max_amount_paise, s.due_date, s.generated_date, 'OPEN', :now, :now
FROM bill_upload_rows s JOIN customers c ON c.lender_customer_id = s.customer_id
WHERE NOT EXISTS (SELECT 1 FROM bills b WHERE b.partner_bill_id = s.partner_bill_id)
ORDER BY s.line_no
"""
# Every loan number on the file's bills finds its customer; a conflicting row's number is not the bill's.
_INSERT_LOAN_IDENTIFIERS = """
INSERT INTO customer_identifiers (customer_id, kind, value)
SELECT c.id, 'loan_account_number', loans.loan_account_number
FROM (
    SELECT DISTINCT s.customer_id, s.loan_account_number FROM bill_upload_rows s
    WHERE s.loan_account_number IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM bill_upload_changes ch WHERE ch.line_no = s.line_no AND ch.locked = 1
    )
) loans
JOIN customers c ON c.lender_customer_id = loans.customer_id
WHERE NOT EXISTS (
    SELECT 1 FROM customer_identifiers ci
    WHERE ci.customer_id = c.id AND ci.kind = 'loan_account_number' AND ci.value = loans.loan_account_number
)
ORDER BY 3
"""


class CrossRowProblem(NamedTuple):
    """A row refused because of another row in the file (``first_line``)."""

    line: int
    rule: str  # "duplicate_bill" or "customer"
    first_line: int
    partner_bill_id: str
    customer_id: str
    customer_name: str
    mobile: str | None
    first_name: str
    first_mobile: str | None


class ConflictRow(NamedTuple):
    line: int
    partner_bill_id: str
    status: str


class BillCounts(NamedTuple):
    created: int
    updated: int
    unchanged: int
    conflicts: int


class Staging:
    """The TEMP tables of one upload on the session's connection; ``drop()`` removes them."""

    def __init__(self, session: Session) -> None:
        session.flush()
        self._session = session
        self._connection = session.connection()
        self._dialect = self._connection.dialect.name
        self._driver: Any = self._connection.connection.driver_connection
        self._copy_stack = ExitStack()
        self._copy: Any = None
        if self._dialect == "postgresql":
            # A million rows take longer than the per-statement limit set for API calls; the hashes and sorts over
            # the whole file should stay in memory; and two uploads at once would fight over the same customers,
            # so they take turns.
            self._execute("SET LOCAL statement_timeout = 0")
            self._execute("SET LOCAL work_mem = '64MB'")
            self._execute("SELECT pg_advisory_xact_lock(hashtext('biller_server.bill_upload'))")
        self.drop()
        self._execute(_CREATE_STAGING)
        self._execute(_CREATE_REJECTS)

    def _execute(self, sql: str, params: dict[str, Any] | None = None) -> sa.CursorResult[Any]:
        return self._connection.execute(sa.text(sql), params or {})

    def _execute_at(self, sql: str, now: dt.datetime) -> int:
        statement = sa.text(sql).bindparams(sa.bindparam("now", type_=UTCDateTime()))
        return self._connection.execute(statement, {"now": now}).rowcount

    def load(self, rows: Sequence[BillRow]) -> None:
        """Add a batch of valid rows to the staging table."""
        if self._dialect == "postgresql":
            if self._copy is None:
                cursor = self._copy_stack.enter_context(self._driver.cursor())
                self._copy = self._copy_stack.enter_context(
                    cursor.copy(f"COPY bill_upload_rows ({_STAGING_COLUMNS}) FROM STDIN (FORMAT csv)")
                )
            # The csv module formats a batch in C, several times faster than COPY's row-by-row adaptation. An
            # unquoted empty field is NULL; no text value here is empty (required, or None when left empty).
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerows(rows)
            self._copy.write(buffer.getvalue())
        else:
            # SQLite keeps dates as ISO text, as SQLAlchemy's Date does.
            self._driver.executemany(
                "INSERT INTO bill_upload_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*row[:11], row.due_date.isoformat(), row.generated_date.isoformat()) for row in rows],
            )

    def finish_loading(self) -> None:
        self._copy_stack.close()
        self._copy = None
        if self._dialect == "postgresql":
            self._execute("ANALYZE bill_upload_rows")
        else:
            self._execute("CREATE INDEX temp.bill_upload_rows_line ON bill_upload_rows (line_no)")
            self._execute("CREATE INDEX temp.bill_upload_rows_bill ON bill_upload_rows (partner_bill_id)")

    def find_cross_row_problems(self) -> int:
        """Mark the rows refused because of other rows in the file; return how many."""
        self._execute(_FIND_DUPLICATE_BILLS)
        self._execute(_FIND_INCONSISTENT_CUSTOMERS)
        return int(self._execute("SELECT COUNT(*) FROM bill_upload_rejects").scalar_one())

    def cross_row_problems(self) -> Iterator[CrossRowProblem]:
        result = self._connection.execute(sa.text(_LIST_REJECTS), execution_options={"yield_per": 1000})
        for row in result:
            yield CrossRowProblem(*row)

    def remove_rejected(self) -> None:
        self._execute(_DELETE_REJECTED)

    def count_customers(self) -> tuple[int, int]:
        """(created, updated): what the staged rows do to customers."""
        self._execute(_CREATE_CUSTOMERS)
        created, updated = self._execute(_COUNT_CUSTOMERS).one()
        return int(created), int(updated)

    def count_bills(self) -> BillCounts:
        """What the staged rows do to bills; remembers the rows that change an existing bill for ``apply``."""
        staged = int(self._execute("SELECT COUNT(*) FROM bill_upload_rows").scalar_one())
        existing = int(self._execute(_COUNT_EXISTING_BILLS).scalar_one())
        self._execute(_CREATE_CHANGES)
        if self._dialect == "sqlite":
            self._execute("CREATE INDEX temp.bill_upload_changes_line ON bill_upload_changes (line_no)")
        updated, conflicts = (int(count) for count in self._execute(_COUNT_CHANGES).one())
        return BillCounts(
            created=staged - existing, updated=updated, unchanged=existing - updated - conflicts, conflicts=conflicts
        )

    def conflicts(self) -> Iterator[ConflictRow]:
        result = self._connection.execute(sa.text(_LIST_CONFLICTS), execution_options={"yield_per": 1000})
        for row in result:
            yield ConflictRow(*row)

    def apply(self, *, now: dt.datetime) -> None:
        """Write the staged rows into customers, identifiers and bills (after ``count_customers``, ``count_bills``)."""
        self._execute(_DELETE_OLD_MOBILES)
        self._execute_at(_UPDATE_CUSTOMERS, now)
        self._execute_at(_INSERT_CUSTOMERS, now)
        self._execute(_INSERT_CUSTOMER_IDENTIFIERS)
        self._execute(_CREATE_MOVED_LOANS)
        self._execute_at(_UPDATE_BILLS, now)
        self._execute(_DELETE_MOVED_LOAN_IDENTIFIERS)
        self._execute_at(_INSERT_BILLS, now)
        self._execute(_INSERT_LOAN_IDENTIFIERS)
        # The writes bypassed the ORM: objects the session already holds must be read again.
        self._session.expire_all()

    def abandon(self) -> None:
        """End a COPY cut short by an error; the transaction is then only good for rolling back."""
        with contextlib.suppress(Exception):
            self._copy_stack.close()

    def drop(self) -> None:
        self._copy_stack.close()
        for table in _TEMP_TABLES:
            self._execute(f"DROP TABLE IF EXISTS {table}")
