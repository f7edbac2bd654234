-- The database work of one POST /bills/fetchReceipt that records a new payment, as the server sends it (traced
-- with SQLAlchemy's before_cursor_execute on the hotpath branch, issue 20), for pgbench: lock the bill, the payment
-- (INSERT ... ON CONFLICT DO NOTHING RETURNING its row), the payment's other rows in one statement of
-- data-modifying CTEs (the partner's bill reference, the bill's new balance, the payment's event, the confirmation
-- job, the receipt), the inbound log row, one commit. Rows it writes carry "DBFLOOR" and bench/db_floor.py deletes
-- them afterwards (the bill's balance is written back unchanged; the job is written done, so no worker takes it).
\set bid random(1, 1000000)
\set ref random(1, 1000000000000000)
BEGIN;
SELECT bills.id, bills.customer_id, bills.partner_bill_id, bills.loan_account_number, bills.name, bills.amount_paise,
       bills.paid_paise, bills.exactness, bills.min_amount_paise, bills.max_amount_paise, bills.due_date,
       bills.generated_date, bills.status, bills.closed_at, bills.closed_reason, bills.created_at, bills.updated_at
  FROM bills WHERE bills.partner_bill_id = (SELECT partner_bill_id FROM bills WHERE id = :bid) FOR UPDATE;
INSERT INTO payments (bill_id, channel, partner_txn_ref, customer_txn_ref, partner_bill_ref, amount_paise,
       declared_bill_amount_paise, paid_at, status, applied_to_bill, flagged, flag_reason, created_at, updated_at)
VALUES (:bid, 'kaleidofin', 'DBFLOOR' || :ref, NULL, 'DBFLOOR' || :ref, 100000, 100000, now(), 'RECEIVED', true,
       false, NULL, now(), now()) ON CONFLICT DO NOTHING
RETURNING payments.id, payments.bill_id, payments.channel, payments.partner_txn_ref, payments.customer_txn_ref,
       payments.partner_bill_ref, payments.amount_paise, payments.declared_bill_amount_paise, payments.paid_at,
       payments.status, payments.status_reason, payments.reason_codes, payments.applied_to_bill, payments.flagged,
       payments.flag_reason, payments.settlement_state, payments.settlement_ref, payments.settled_on,
       payments.created_at, payments.updated_at \gset
WITH reference AS (
  INSERT INTO channel_bill_references (channel, partner_bill_ref, bill_id, created_at)
  VALUES ('kaleidofin', 'DBFLOOR' || :ref, :bid, now()) ON CONFLICT (channel, partner_bill_ref) DO NOTHING
), bill AS (
  UPDATE bills SET paid_paise = bills.paid_paise, status = bills.status, updated_at = now() WHERE bills.id = :bid
), event AS (
  INSERT INTO payment_events (payment_id, occurred_at, kind, from_status, to_status, source, detail)
  VALUES (:id, now(), 'received', NULL, 'RECEIVED', 'kaleidofin',
          '{"amount_paise": 100000, "receipt_number": "R0000000001"}')
), job AS (
  INSERT INTO jobs (kind, partner, payment_id, payload, dedupe_key, state, anchor_at, due_at, attempts, created_at,
                    updated_at)
  VALUES ('confirm_payment', 'kaleidofin', :id, '{}', NULL, 'done', now(), now(), 0, now(), now())
), receipt AS (
  INSERT INTO receipts (payment_id, receipt_number, issued_at) VALUES (:id, 'DBFLOOR' || :ref, now()) RETURNING receipts.id
)
SELECT receipt.id FROM receipt;
INSERT INTO inbound_messages (received_at, channel, method, path, source_address, request_id, headers, body,
       status_code, outcome, partner_ref, error, duration_ms)
VALUES (now(), 'kaleidofin', 'POST', '/bills/fetchReceipt', '127.0.0.1', 'db-floor',
       '{"Host": "127.0.0.1:8000", "User-Agent": "wrk", "X-API-Key": "[REDACTED]", "Content-Type": "application/json", "Content-Length": "160"}',
       '\x7b2273797374656d42696c6c4964223a31347d', 200, 'receipt_issued', 'DBFLOOR', NULL, 1.5);
COMMIT;
