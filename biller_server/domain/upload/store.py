"""The set-based side of a bill upload: a staging table, the checks across rows, the plan, and the batched writes.

Valid rows stream into a TEMP staging table (PostgreSQL: COPY; SQLite: batched executemany); every check that
needs more than one row is then one SQL statement over the whole file, and so is the plan: which customers and
bills the file creates, changes or leaves alone. Python keeps no per-row state, and the statements are the same
on both databases (SQLite 3.33+ for UPDATE ... FROM).

The writes then go in batches of whole customers, each batch its own short transaction (``apply_batch``): a
customer's name, mobile, identifiers and every one of its bills in the file change together or not at all, and
partners' calls get the database between batches. TEMP tables live as long as the connection, so the caller
must keep the session on one connection for the whole upload (``Database.dedicated_session``).
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
from biller_server.persistence.database import SQLITE_DEFERRED
from biller_server.persistence.types import UTCDateTime

_STAGING_COLUMNS = (
    "line_no, customer_id, customer_name, mobile, loan_account_number, partner_bill_id, bill_name, "
    "amount_paise, exactness, min_amount_paise, max_amount_paise, due_date, generated_date"
)
# raw: the row as it came (a CSV line), kept only when the caller wants a rejects file.
_COPY_COLUMNS = f"{_STAGING_COLUMNS}, raw"
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
    generated_date DATE NOT NULL,
    raw TEXT
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
    "bill_upload_changes_numbered",
    "bill_upload_new_bills",
    "bill_upload_work",
    "bill_upload_work_ids",
    "bill_upload_work_rows",
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
       f.customer_name AS first_name, f.mobile AS first_mobile, s.raw
FROM bill_upload_rejects r
JOIN bill_upload_rows s ON s.line_no = r.line_no
JOIN bill_upload_rows f ON f.line_no = r.first_line
ORDER BY r.line_no
"""
_DELETE_REJECTED = "DELETE FROM bill_upload_rows WHERE line_no IN (SELECT line_no FROM bill_upload_rejects)"

# The file's customers, each with the stored one (pk NULL: new) and whether the file changes its name or mobile.
_CUSTOMER_DIFFERS = "(c.name <> sc.customer_name OR COALESCE(c.mobile, '') <> COALESCE(sc.mobile, ''))"
_CREATE_CUSTOMERS = """
CREATE TEMP TABLE bill_upload_customers AS
SELECT g.customer_id, g.customer_name, g.mobile, g.first_line, g.row_count, c.id AS pk,
       c.name AS old_name, c.mobile AS old_mobile,
       CASE WHEN c.id IS NULL THEN 'new'
            WHEN c.name <> g.customer_name OR COALESCE(c.mobile, '') <> COALESCE(g.mobile, '') THEN 'changed'
            ELSE 'same' END AS state
FROM (
    SELECT customer_id, MIN(customer_name) AS customer_name, MIN(mobile) AS mobile, MIN(line_no) AS first_line,
           COUNT(*) AS row_count
    FROM bill_upload_rows GROUP BY customer_id
) g LEFT JOIN customers c ON c.lender_customer_id = g.customer_id
"""
_COUNT_CUSTOMERS = """
SELECT COALESCE(SUM(CASE WHEN state = 'new' THEN 1 ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN state = 'changed' THEN 1 ELSE 0 END), 0)
FROM bill_upload_customers
"""

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
# A bill the upload must not change: cancelled, closed, or with any payment at all. paid_paise is checked too
# because PostgreSQL rechecks it on the locked row, so a payment committed while the upload runs is seen.
_LOCKED_BILL = """(
    b.status IN ('CANCELLED', 'CLOSED') OR b.paid_paise <> 0
    OR EXISTS (SELECT 1 FROM payments p WHERE p.bill_id = b.id)
)"""
# The rows that create a bill (no bill has their partner_bill_id yet).
_CREATE_NEW_BILLS = """
CREATE TEMP TABLE bill_upload_new_bills AS
SELECT s.line_no, s.customer_id FROM bill_upload_rows s
WHERE NOT EXISTS (SELECT 1 FROM bills b WHERE b.partner_bill_id = s.partner_bill_id)
"""
# The rows whose bill exists and differs from them: an update, or (locked) a conflict. With the bill's values
# before the upload, for the change list. ``late`` marks a conflict found only when its batch was written (a
# payment arrived after the plan).
_CREATE_CHANGES = f"""
CREATE TEMP TABLE bill_upload_changes AS
SELECT s.line_no, s.customer_id, b.id AS bill_id, b.status, b.customer_id AS old_customer_pk,
       oc.lender_customer_id AS old_customer_id, b.loan_account_number AS old_loan_account_number,
       b.name AS old_name, b.amount_paise AS old_amount_paise, b.exactness AS old_exactness,
       b.min_amount_paise AS old_min_amount_paise, b.max_amount_paise AS old_max_amount_paise,
       b.due_date AS old_due_date, b.generated_date AS old_generated_date,
       CASE WHEN oc.lender_customer_id <> s.customer_id THEN 1 ELSE 0 END AS moved,
       CASE WHEN COALESCE(b.loan_account_number, '') <> COALESCE(s.loan_account_number, '') THEN 1 ELSE 0 END
           AS loan_changed,
       CASE WHEN {_LOCKED_BILL} THEN 1 ELSE 0 END AS locked,
       0 AS late
FROM bill_upload_rows s
JOIN bills b ON b.partner_bill_id = s.partner_bill_id
JOIN customers oc ON oc.id = b.customer_id
WHERE NOT {_SAME_BILL}
"""  # noqa: S608 - composed of this module's constants only
_COUNT_CHANGES = """
SELECT COALESCE(SUM(1 - locked), 0), COALESCE(SUM(locked), 0) FROM bill_upload_changes
"""
_LIST_CONFLICTS = """
SELECT ch.line_no, s.partner_bill_id, ch.status, s.raw
FROM bill_upload_changes ch JOIN bill_upload_rows s ON s.line_no = ch.line_no
WHERE ch.locked = 1 AND ch.late = 0
ORDER BY ch.line_no
"""
_LIST_LATE_CONFLICTS = """
SELECT ch.line_no, s.partner_bill_id, b.status, r.raw
FROM bill_upload_changes ch
JOIN bill_upload_work_rows s ON s.line_no = ch.line_no
JOIN bill_upload_rows r ON r.line_no = ch.line_no
JOIN bills b ON b.id = ch.bill_id
WHERE ch.late = 1 AND ch.ordinal BETWEEN :first AND :last
ORDER BY ch.line_no
"""
# The customers the upload writes: new or changed ones, those with a bill to create or change, and those whose
# stored identifiers lack one the file gives them (the customer id, the mobile, or a loan number of a row that is
# not a conflict). Gathered one simple statement at a time: as one statement, the planner made a slow plan of it.
# ``identifiers`` = 1 marks the customers whose identifiers the batch must add: new or changed customers, those
# found lacking one, and those whose loan number a changed bill takes away (a later batch may delete it while the
# file gives it to another of their bills). The others' identifiers are all there already: in a month's re-upload
# that is nearly every customer, and looking for their identifiers again was half of the writing time.
_WORK_CUSTOMERS = (
    """CREATE TEMP TABLE bill_upload_work_ids AS
    SELECT customer_id, 1 AS identifiers FROM bill_upload_customers WHERE state <> 'same'""",
    "INSERT INTO bill_upload_work_ids SELECT DISTINCT customer_id, 0 FROM bill_upload_new_bills",
    "INSERT INTO bill_upload_work_ids SELECT DISTINCT customer_id, 0 FROM bill_upload_changes WHERE locked = 0",
    """INSERT INTO bill_upload_work_ids SELECT DISTINCT old_customer_id, 1 FROM bill_upload_changes
    WHERE locked = 0 AND (moved = 1 OR loan_changed = 1)""",
    """INSERT INTO bill_upload_work_ids SELECT sc.customer_id, 1 FROM bill_upload_customers sc
    WHERE sc.pk IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM customer_identifiers ci
        WHERE ci.customer_id = sc.pk AND ci.kind = 'customer_id' AND ci.value = sc.customer_id
    )""",
    """INSERT INTO bill_upload_work_ids SELECT sc.customer_id, 1 FROM bill_upload_customers sc
    WHERE sc.pk IS NOT NULL AND sc.mobile IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM customer_identifiers ci
        WHERE ci.customer_id = sc.pk AND ci.kind = 'mobile' AND ci.value = sc.mobile
    )""",
    # Each customer's loan numbers once (a loan has many instalments): one index probe per loan, not per row.
    """INSERT INTO bill_upload_work_ids SELECT loans.customer_id, 1
    FROM (
        SELECT DISTINCT s.customer_id, s.loan_account_number FROM bill_upload_rows s
        LEFT JOIN bill_upload_changes ch ON ch.line_no = s.line_no
        WHERE s.loan_account_number IS NOT NULL AND (ch.locked IS NULL OR ch.locked = 0)
    ) loans
    JOIN bill_upload_customers sc ON sc.customer_id = loans.customer_id
    WHERE sc.pk IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM customer_identifiers ci
        WHERE ci.customer_id = sc.pk AND ci.kind = 'loan_account_number' AND ci.value = loans.loan_account_number
    )""",
)
# Numbered in file order; a batch is a range of these numbers, so it holds whole customers. rows_before counts
# the file's rows of the customers before this one, to size batches in rows.
_CREATE_WORK = """
CREATE TEMP TABLE bill_upload_work AS
SELECT sc.customer_id, sc.state, sc.row_count, ids.identifiers,
       ROW_NUMBER() OVER (ORDER BY sc.first_line) AS ordinal,
       SUM(sc.row_count) OVER (ORDER BY sc.first_line ROWS UNBOUNDED PRECEDING) - sc.row_count AS rows_before
FROM bill_upload_customers sc
JOIN (SELECT customer_id, MAX(identifiers) AS identifiers FROM bill_upload_work_ids GROUP BY customer_id) ids
  ON ids.customer_id = sc.customer_id
"""
# The staged rows of those customers, each with its customer's number: every batch statement picks its rows by
# a range of ``ordinal`` on this table's index.
_CREATE_WORK_ROWS = f"""
CREATE TEMP TABLE bill_upload_work_rows AS
SELECT w.ordinal, w.identifiers, {", ".join("s." + name for name in _STAGING_COLUMNS.split(", "))}
FROM bill_upload_rows s JOIN bill_upload_work w ON w.customer_id = s.customer_id
"""  # noqa: S608 - composed of this module's constants only
# rows_before grows with ordinal: the last customer that starts before the limit is the first found backwards.
_NUMBER_CHANGES = """
CREATE TEMP TABLE bill_upload_changes_numbered AS
SELECT w.ordinal, ch.* FROM bill_upload_changes ch LEFT JOIN bill_upload_work w ON w.customer_id = ch.customer_id
"""
_BATCH_END = """
SELECT ordinal FROM bill_upload_work WHERE rows_before < :rows_limit ORDER BY rows_before DESC LIMIT 1
"""
_BATCH_ROWS = """
SELECT l.rows_before + l.row_count - f.rows_before
FROM bill_upload_work f, bill_upload_work l WHERE f.ordinal = :first AND l.ordinal = :last
"""

# --- One batch: the customers numbered :first..:last, in one transaction. ---
_BATCH_CHANGES = "(SELECT * FROM bill_upload_changes WHERE ordinal BETWEEN :first AND :last)"
# PostgreSQL: lock the bills the batch changes, in id order, before looking at them again; a payment being
# recorded for one of them waits for this short transaction (or this one waits for it, and sees it).
_LOCK_BATCH_BILLS = f"""
SELECT b.id FROM bills b JOIN {_BATCH_CHANGES} ch ON ch.bill_id = b.id
WHERE ch.locked = 0 ORDER BY b.id FOR UPDATE OF b
"""  # noqa: S608 - composed of this module's constants only
# A bill that took a payment (or was cancelled or closed) since the plan: now a conflict, left alone.
_MARK_LATE_CONFLICTS = f"""
UPDATE bill_upload_changes SET locked = 1, late = 1
WHERE locked = 0 AND ordinal BETWEEN :first AND :last
  AND EXISTS (SELECT 1 FROM bills b WHERE b.id = bill_upload_changes.bill_id AND {_LOCKED_BILL})
"""  # noqa: S608 - composed of this module's constants only
# Driven from the batch's customers whose mobile or name changes, so each lookup goes through an index. CROSS
# JOIN is SQLite's way to fix the join order (PostgreSQL treats it as a plain join): left to choose, SQLite read
# every mobile in customer_identifiers once per batch (0.6 s a batch with 200,000 customers).
_DELETE_OLD_MOBILES = f"""
DELETE FROM customer_identifiers WHERE id IN (
    SELECT ci.id FROM bill_upload_work w
    CROSS JOIN bill_upload_customers sc
    CROSS JOIN customers c
    CROSS JOIN customer_identifiers ci
    WHERE w.ordinal BETWEEN :first AND :last AND w.state = 'changed' AND sc.customer_id = w.customer_id
      AND c.lender_customer_id = sc.customer_id AND {_CUSTOMER_DIFFERS}
      AND ci.customer_id = c.id AND ci.kind = 'mobile' AND ci.value = c.mobile
)
"""  # noqa: S608 - composed of this module's constants only
_UPDATE_CUSTOMERS = f"""
UPDATE customers AS c SET name = sc.customer_name, mobile = sc.mobile, updated_at = :now
FROM bill_upload_work w, bill_upload_customers sc
WHERE w.ordinal BETWEEN :first AND :last AND w.state = 'changed' AND sc.customer_id = w.customer_id
  AND c.lender_customer_id = sc.customer_id AND {_CUSTOMER_DIFFERS}
"""  # noqa: S608 - composed of this module's constants only
# In file order, so that ids (and the indexes on them) grow the way the file does.
_INSERT_CUSTOMERS = """
INSERT INTO customers (lender_customer_id, name, mobile, created_at, updated_at)
SELECT sc.customer_id, sc.customer_name, sc.mobile, :now, :now
FROM bill_upload_work w JOIN bill_upload_customers sc ON sc.customer_id = w.customer_id
WHERE w.ordinal BETWEEN :first AND :last AND w.state = 'new'
  AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.lender_customer_id = sc.customer_id)
ORDER BY w.ordinal
"""
# Sorted like the unique index on (kind, value), so that it grows in order rather than at random places.
_INSERT_CUSTOMER_IDENTIFIERS = """
INSERT INTO customer_identifiers (customer_id, kind, value)
SELECT c.id, 'customer_id', c.lender_customer_id
FROM bill_upload_work w JOIN customers c ON c.lender_customer_id = w.customer_id
WHERE w.ordinal BETWEEN :first AND :last AND w.identifiers = 1 AND NOT EXISTS (
    SELECT 1 FROM customer_identifiers ci
    WHERE ci.customer_id = c.id AND ci.kind = 'customer_id' AND ci.value = c.lender_customer_id
)
UNION ALL
SELECT c.id, 'mobile', c.mobile
FROM bill_upload_work w JOIN customers c ON c.lender_customer_id = w.customer_id
WHERE w.ordinal BETWEEN :first AND :last AND w.identifiers = 1 AND c.mobile IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM customer_identifiers ci WHERE ci.customer_id = c.id AND ci.kind = 'mobile' AND ci.value = c.mobile
)
ORDER BY 2, 3
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
FROM bill_upload_changes ch, bill_upload_work_rows s, customers nc
WHERE b.id = ch.bill_id
  AND ch.locked = 0
  AND ch.ordinal BETWEEN :first AND :last
  AND s.line_no = ch.line_no
  AND nc.lender_customer_id = s.customer_id
  AND NOT {_LOCKED_BILL}
"""  # noqa: S608 - composed of this module's constants only
# Loan numbers that an update took away from a customer (a new number, or the bill moved to another customer):
# an identifier that no bill of that customer still carries is removed.
_DELETE_MOVED_LOAN_IDENTIFIERS = """
DELETE FROM customer_identifiers WHERE id IN (
    SELECT ci.id FROM bill_upload_changes ch
    JOIN customer_identifiers ci
      ON ci.kind = 'loan_account_number' AND ci.value = ch.old_loan_account_number
     AND ci.customer_id = ch.old_customer_pk
    WHERE ch.ordinal BETWEEN :first AND :last AND ch.locked = 0 AND (ch.moved = 1 OR ch.loan_changed = 1)
      AND NOT EXISTS (
          SELECT 1 FROM bills b WHERE b.customer_id = ci.customer_id AND b.loan_account_number = ci.value
      )
)
"""
# In file order, so that the indexes on bills grow at their right edge when the file is sorted, as exports are.
_INSERT_BILLS = """
INSERT INTO bills (customer_id, partner_bill_id, loan_account_number, name, amount_paise, paid_paise, exactness,
                   min_amount_paise, max_amount_paise, due_date, generated_date, status, created_at, updated_at)
SELECT c.id, s.partner_bill_id, s.loan_account_number, s.bill_name, s.amount_paise, 0, s.exactness,
       s.min_amount_paise, s.max_amount_paise, s.due_date, s.generated_date, 'OPEN', :now, :now
FROM bill_upload_work_rows s JOIN customers c ON c.lender_customer_id = s.customer_id
WHERE s.ordinal BETWEEN :first AND :last
  AND NOT EXISTS (SELECT 1 FROM bills b WHERE b.partner_bill_id = s.partner_bill_id)
ORDER BY s.line_no
"""
# Every loan number on the batch's bills finds its customer; a conflicting row's number is not the bill's.
_INSERT_LOAN_IDENTIFIERS = """
INSERT INTO customer_identifiers (customer_id, kind, value)
SELECT c.id, 'loan_account_number', loans.loan_account_number
FROM (
    SELECT DISTINCT s.customer_id, s.loan_account_number FROM bill_upload_work_rows s
    WHERE s.ordinal BETWEEN :first AND :last AND s.identifiers = 1 AND s.loan_account_number IS NOT NULL
      AND NOT EXISTS (
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

# --- The change list: what the upload does (or, in a dry run, would do), bill by bill. ---
_LIST_CUSTOMER_CHANGES = """
SELECT first_line, customer_id, state, old_name, customer_name, old_mobile, mobile
FROM bill_upload_customers WHERE state <> 'same'
"""
_LIST_BILL_CHANGES = """
SELECT s.line_no, s.partner_bill_id, s.customer_id, s.bill_name, s.amount_paise, s.exactness, s.min_amount_paise,
       s.max_amount_paise, s.due_date, s.generated_date, s.loan_account_number,
       ch.old_customer_id, ch.old_name, ch.old_amount_paise, ch.old_exactness, ch.old_min_amount_paise,
       ch.old_max_amount_paise, ch.old_due_date, ch.old_generated_date, ch.old_loan_account_number
FROM bill_upload_rows s
LEFT JOIN bill_upload_changes ch ON ch.line_no = s.line_no
WHERE (ch.line_no IS NOT NULL AND ch.locked = 0)
   OR (ch.line_no IS NULL AND s.line_no IN (SELECT line_no FROM bill_upload_new_bills))
ORDER BY s.line_no
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
    raw: str | None


class ConflictRow(NamedTuple):
    line: int
    partner_bill_id: str
    status: str
    raw: str | None


class BillCounts(NamedTuple):
    created: int
    updated: int
    unchanged: int
    conflicts: int


class BatchCounts(NamedTuple):
    """What one batch wrote (``late_conflicts``: rows it left alone because the bill took a payment meanwhile)."""

    customers: int
    customers_created: int
    customers_updated: int
    created: int
    updated: int
    late_conflicts: int


class CustomerChange(NamedTuple):
    line: int
    customer_id: str
    state: str  # "new" or "changed"
    old_name: str | None
    name: str
    old_mobile: str | None
    mobile: str | None


class BillChange(NamedTuple):
    """A bill the upload creates (``old_*`` all None) or changes, with its values before and after."""

    line: int
    partner_bill_id: str
    customer_id: str
    name: str
    amount_paise: int
    exactness: str
    min_amount_paise: int | None
    max_amount_paise: int | None
    due_date: dt.date
    generated_date: dt.date
    loan_account_number: str | None
    old_customer_id: str | None
    old_name: str | None
    old_amount_paise: int | None
    old_exactness: str | None
    old_min_amount_paise: int | None
    old_max_amount_paise: int | None
    old_due_date: dt.date | None
    old_generated_date: dt.date | None
    old_loan_account_number: str | None

    @property
    def created(self) -> bool:
        return self.old_customer_id is None


class Staging:
    """The TEMP tables of one upload on the session's connection; ``drop()`` removes them.

    The first statements run in a transaction that, on SQLite, does not take the write lock (``SQLITE_DEFERRED``):
    reading and checking the file writes only TEMP tables, so partners' calls go on meanwhile.
    """

    def __init__(self, session: Session) -> None:
        session.flush()
        self._session = session
        connection = self._begin(deferred=True)
        self.dialect = connection.dialect.name
        self._driver: Any = connection.connection.driver_connection
        self._copy_stack = ExitStack()
        self._copy: Any = None
        self.drop()
        self._execute(_CREATE_STAGING)
        self._execute(_CREATE_REJECTS)

    def _connection(self) -> sa.Connection:
        # Always through the session: it begins (and so owns, and commits) the transaction. A statement run on the
        # bare connection between two of the session's transactions would begin one the session only joins.
        return self._session.connection()

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> sa.CursorResult[Any]:
        return self._connection().execute(sa.text(sql), params or {})

    def _execute(self, sql: str, params: dict[str, Any] | None = None) -> sa.CursorResult[Any]:
        return self._connection().execute(sa.text(sql), params or {})

    def _execute_at(self, sql: str, now: dt.datetime, batch: tuple[int, int]) -> int:
        statement = sa.text(sql).bindparams(sa.bindparam("now", type_=UTCDateTime()))
        return self._connection().execute(statement, {"now": now, "first": batch[0], "last": batch[1]}).rowcount

    def _date(self, value: Any) -> dt.date:
        # SQLite keeps dates as ISO text (as SQLAlchemy's Date does); text() hands them back as they are.
        return dt.date.fromisoformat(value) if isinstance(value, str) else value

    def load(self, rows: Sequence[BillRow]) -> None:
        """Add a batch of valid rows to the staging table."""
        if self.dialect == "postgresql":
            if self._copy is None:
                cursor = self._copy_stack.enter_context(self._driver.cursor())
                self._copy = self._copy_stack.enter_context(
                    cursor.copy(f"COPY bill_upload_rows ({_COPY_COLUMNS}) FROM STDIN (FORMAT csv)")
                )
            # The csv module formats a batch in C, several times faster than COPY's row-by-row adaptation. An
            # unquoted empty field is NULL; no text value here is empty (required, or None when left empty).
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerows(rows)
            self._copy.write(buffer.getvalue())
        else:
            self._driver.executemany(
                "INSERT INTO bill_upload_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*row[:11], row.due_date.isoformat(), row.generated_date.isoformat(), row.record) for row in rows],
            )

    def finish_loading(self) -> None:
        self._copy_stack.close()
        self._copy = None
        if self.dialect == "postgresql":
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
        result = self._connection().execute(sa.text(_LIST_REJECTS), execution_options={"yield_per": 1000})
        for row in result:
            yield CrossRowProblem(*row)

    def remove_rejected(self) -> None:
        self._execute(_DELETE_REJECTED)

    def count_customers(self) -> tuple[int, int]:
        """(created, updated): what the staged rows do to customers."""
        self._execute(_CREATE_CUSTOMERS)
        self._index("bill_upload_customers", "customer_id")
        created, updated = self._execute(_COUNT_CUSTOMERS).one()
        return int(created), int(updated)

    def count_bills(self) -> BillCounts:
        """What the staged rows do to bills; remembers the new and changed rows for ``plan`` and the batches."""
        staged = int(self._execute("SELECT COUNT(*) FROM bill_upload_rows").scalar_one())
        self._execute(_CREATE_NEW_BILLS)
        self._execute(_CREATE_CHANGES)
        self._index("bill_upload_changes", "line_no")
        created = int(self._execute("SELECT COUNT(*) FROM bill_upload_new_bills").scalar_one())
        updated, conflicts = (int(count) for count in self._execute(_COUNT_CHANGES).one())
        return BillCounts(
            created=created, updated=updated, unchanged=staged - created - updated - conflicts, conflicts=conflicts
        )

    def conflicts(self, *, late: bool = False, first: int = 0, last: int = 0) -> Iterator[ConflictRow]:
        """The rows left alone because their bill may not change (``late``: found only when batch ``first``..
        ``last`` was written)."""
        sql, params = (_LIST_LATE_CONFLICTS, {"first": first, "last": last}) if late else (_LIST_CONFLICTS, {})
        result = self._connection().execute(sa.text(sql), params, execution_options={"yield_per": 1000})
        for row in result:
            yield ConflictRow(*row)

    def customer_changes(self) -> Iterator[CustomerChange]:
        result = self._connection().execute(sa.text(_LIST_CUSTOMER_CHANGES), execution_options={"yield_per": 1000})
        for row in result:
            yield CustomerChange(*row)

    def bill_changes(self) -> Iterator[BillChange]:
        result = self._connection().execute(sa.text(_LIST_BILL_CHANGES), execution_options={"yield_per": 1000})
        for row in result:
            values = list(row)
            for index in (8, 9, 17, 18):
                if values[index] is not None:
                    values[index] = self._date(values[index])
            yield BillChange(*values)

    def plan(self) -> int:
        """Number the customers the upload writes (after ``count_customers``, ``count_bills``); return how many."""
        for statement in _WORK_CUSTOMERS:
            self._execute(statement)
        if self.dialect == "postgresql":
            self._execute("ANALYZE bill_upload_work_ids")
        self._execute(_CREATE_WORK)
        self._execute(_CREATE_WORK_ROWS)
        self._index("bill_upload_work", "ordinal")
        self._index("bill_upload_work", "customer_id")
        self._index("bill_upload_work", "rows_before")
        self._index("bill_upload_work_rows", "ordinal")
        self._index("bill_upload_work_rows", "line_no")
        # Each change carries its customer's number, so a batch finds its changes by a range of an index.
        self._execute(_NUMBER_CHANGES)
        self._execute("DROP TABLE bill_upload_changes")
        self._execute("ALTER TABLE bill_upload_changes_numbered RENAME TO bill_upload_changes")
        self._index("bill_upload_changes", "ordinal", name="bill_upload_changes_batch")
        self._index("bill_upload_changes", "line_no", name="bill_upload_changes_line")
        # The rows left alone (conflicts) are few: a partial index finds them without reading every change.
        schema = "temp." if self.dialect == "sqlite" else ""
        self._execute(f"CREATE INDEX {schema}bill_upload_conflicts ON bill_upload_changes (line_no) WHERE locked = 1")
        if self.dialect == "postgresql":
            for table in ("bill_upload_customers", "bill_upload_changes", "bill_upload_work", "bill_upload_work_rows"):
                self._execute(f"ANALYZE {table}")
            self.analyze_books()
        return int(self._execute("SELECT COUNT(*) FROM bill_upload_work").scalar_one())

    def analyze_books(self) -> None:
        """PostgreSQL: refresh the planner's statistics of the tables the batches write. Planned on a fresh or
        small database (or one whose autovacuum is behind), a batch's joins would scan or hash the whole of a
        table that the upload itself makes large, once per batch. ANALYZE reads a sample and blocks no one."""
        if self.dialect == "postgresql":
            self._execute("ANALYZE customers, bills, customer_identifiers")

    def _index(self, table: str, column: str, *, name: str | None = None) -> None:
        schema = "temp." if self.dialect == "sqlite" else ""
        self._execute(f"CREATE INDEX {schema}{name or f'{table}_{column}'} ON {table} ({column})")

    def next_batch(self, first: int, rows: int) -> tuple[int, int] | None:
        """(last customer, rows) of a batch that starts at customer ``first`` and holds about ``rows`` rows (at
        least one customer, however many rows it has); None when no customer is left."""
        start = self._execute("SELECT rows_before FROM bill_upload_work WHERE ordinal = :first", {"first": first})
        rows_before = start.scalar_one_or_none()
        if rows_before is None:
            return None
        limit = int(rows_before) + max(rows, 1)
        last = max(int(self._execute(_BATCH_END, {"rows_limit": limit}).scalar() or first), first)
        return last, int(self._execute(_BATCH_ROWS, {"first": first, "last": last}).scalar_one())

    def apply_batch(self, *, first: int, last: int, now: dt.datetime) -> BatchCounts:
        """Write customers ``first``..``last`` (their numbers from ``plan``) in the session's current transaction."""
        batch = (first, last)
        if self.dialect == "postgresql":
            self._execute(_LOCK_BATCH_BILLS, {"first": first, "last": last})
        late = self._execute(_MARK_LATE_CONFLICTS, {"first": first, "last": last}).rowcount
        self._execute(_DELETE_OLD_MOBILES, {"first": first, "last": last})
        customers_updated = self._execute_at(_UPDATE_CUSTOMERS, now, batch)
        customers_created = self._execute_at(_INSERT_CUSTOMERS, now, batch)
        self._execute(_INSERT_CUSTOMER_IDENTIFIERS, {"first": first, "last": last})
        updated = self._execute_at(_UPDATE_BILLS, now, batch)
        self._execute(_DELETE_MOVED_LOAN_IDENTIFIERS, {"first": first, "last": last})
        created = self._execute_at(_INSERT_BILLS, now, batch)
        self._execute(_INSERT_LOAN_IDENTIFIERS, {"first": first, "last": last})
        return BatchCounts(last - first + 1, customers_created, customers_updated, created, updated, late)

    def reconnect(self, *, deferred: bool = False) -> None:
        """Follow the session into its next transaction (after a commit or rollback)."""
        self._begin(deferred=deferred)

    def _begin(self, *, deferred: bool) -> sa.Connection:
        if self._session.in_transaction():
            return self._session.connection()  # a caller's transaction (as in tests): it decided how it began
        return self._session.connection(execution_options={SQLITE_DEFERRED: deferred})

    def abandon(self) -> None:
        """End a COPY cut short by an error; the transaction is then only good for rolling back."""
        with contextlib.suppress(Exception):
            self._copy_stack.close()

    def drop(self) -> None:
        self._copy_stack.close()
        for table in _TEMP_TABLES:
            self._execute(f"DROP TABLE IF EXISTS {table}")
