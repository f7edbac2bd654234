-- The database work of one POST /bills/fetchReceipt that records a new payment, as the server sends it (traced
-- with SQLAlchemy's before_cursor_execute on commit 0bf33d2), for pgbench: lock the bill, look for a replay, the
-- payment under a savepoint, the partner's bill reference, the bill's new balance, the confirmation job, the
-- payment's event, the receipt, the inbound log row, one commit. Rows it writes carry "DBFLOOR" and
-- bench/db_floor.py deletes them afterwards (the bill's balance is written back unchanged).
\set bid random(1, 1000000)
\set ref random(1, 1000000000000000)
BEGIN;
SELECT id, customer_id, partner_bill_id, loan_account_number, name, amount_paise, paid_paise, exactness,
       min_amount_paise, max_amount_paise, due_date, generated_date, status, created_at, updated_at
  FROM bills WHERE partner_bill_id = (SELECT partner_bill_id FROM bills WHERE id = :bid) FOR UPDATE;
SELECT id, bill_id, channel, partner_txn_ref, customer_txn_ref, partner_bill_ref, amount_paise,
       declared_bill_amount_paise, paid_at, status, status_reason, reason_codes, applied_to_bill, flagged,
       flag_reason, created_at, updated_at
  FROM payments WHERE channel = 'kaleidofin' AND partner_txn_ref = 'DBFLOOR' || :ref;
SAVEPOINT sa_savepoint_1;
INSERT INTO payments (bill_id, channel, partner_txn_ref, customer_txn_ref, partner_bill_ref, amount_paise,
       declared_bill_amount_paise, paid_at, status, status_reason, applied_to_bill, flagged, flag_reason, created_at,
       updated_at)
VALUES (:bid, 'kaleidofin', 'DBFLOOR' || :ref, NULL, 'DBFLOOR' || :ref, 100000, 100000, now(), 'RECEIVED', NULL, true,
       false, NULL, now(), now()) RETURNING id \gset
RELEASE SAVEPOINT sa_savepoint_1;
INSERT INTO channel_bill_references (channel, partner_bill_ref, bill_id, created_at)
VALUES ('kaleidofin', 'DBFLOOR' || :ref, :bid, now()) ON CONFLICT (channel, partner_bill_ref) DO NOTHING RETURNING id;
UPDATE bills SET paid_paise = paid_paise, status = status, updated_at = now() WHERE id = :bid;
INSERT INTO jobs (kind, partner, payment_id, payload, dedupe_key, state, anchor_at, due_at, attempts, lease_owner,
       lease_expires_at, outcome, last_error, finished_at, created_at, updated_at)
VALUES ('confirm_payment', 'kaleidofin', :id, '{}', NULL, 'done', now(), now(), 0, NULL, NULL, 'db-floor', NULL, NULL,
       now(), now()) RETURNING id;
INSERT INTO payment_events (payment_id, occurred_at, kind, from_status, to_status, source, detail)
VALUES (:id, now(), 'received', NULL, 'RECEIVED', 'kaleidofin', '{"amount_paise": 100000, "receipt_number": "R0000000001"}')
RETURNING id;
INSERT INTO receipts (payment_id, receipt_number, issued_at) VALUES (:id, 'DBFLOOR' || :ref, now()) RETURNING id;
INSERT INTO inbound_messages (received_at, channel, method, path, source_address, request_id, headers, body,
       status_code, outcome, partner_ref, error, duration_ms)
VALUES (now(), 'kaleidofin', 'POST', '/bills/fetchReceipt', '127.0.0.1', 'db-floor',
       '{"Host": "127.0.0.1:8000", "User-Agent": "wrk", "X-API-Key": "[REDACTED]", "Content-Type": "application/json", "Content-Length": "160"}',
       '\x7b2273797374656d42696c6c4964223a31347d', 200, 'receipt_issued', 'DBFLOOR', NULL, 1.5);
COMMIT;
