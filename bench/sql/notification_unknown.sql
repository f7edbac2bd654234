-- The database work of one POST /digiledge/payment-notification whose refId names no payment (20 % of
-- bench/serve_load.py's notifications), as the server sends it (traced with SQLAlchemy's before_cursor_execute on the
-- notify branch, bench/notification_inprocess.py --trace), for pgbench: look for the payment to lock (none), store
-- the notification whole with its outcome and acknowledgement (held for reconciliation), the inbound log row, one
-- commit. Rows it writes carry "DBFLOOR" or request id db-floor, and bench/db_floor.py deletes them afterwards.
\set ref random(1, 1000000000000000)
\set fp random(1, 1000000000000000000)
BEGIN;
SELECT payments.id, payments.bill_id, payments.channel, payments.partner_txn_ref, payments.customer_txn_ref,
       payments.partner_bill_ref, payments.amount_paise, payments.declared_bill_amount_paise, payments.paid_at,
       payments.status, payments.status_reason, payments.reason_codes, payments.applied_to_bill, payments.flagged,
       payments.flag_reason, payments.settlement_state, payments.settlement_ref, payments.settled_on,
       payments.created_at, payments.updated_at
  FROM payments WHERE payments.channel = 'digiledge' AND payments.partner_txn_ref = 'DBFLOORU' || :ref FOR UPDATE;
INSERT INTO payment_notifications (received_at, channel, ref_id, msg_id, fingerprint, body, reported_status, reason,
       reason_codes, payment_id, outcome, ack_code, ack_status, ack_reason, needs_reconciliation)
VALUES (now(), 'digiledge', 'DBFLOORU' || :ref, 'MDBFLOOR' || :fp, lpad(:fp::text, 64, '0'),
       '{"refId": "DBFLOORU1", "status": "Successful", "reason": "", "ack": {"api": "PAYMENT_RESPONSE", "refId": "DBFLOORU1", "msgId": "MB300910001000000001", "rspCd": "000", "ts": "2026-11-23T10:15:00+05:30", "errorMessages": []}}',
       'Successful', NULL, 'null', NULL, 'unknown_payment', 202, 'RECORDED',
       'No payment with this refId; held for reconciliation', true)
ON CONFLICT (channel, fingerprint) DO NOTHING RETURNING payment_notifications.id;
INSERT INTO inbound_messages (received_at, channel, method, path, source_address, request_id, headers, body,
       status_code, outcome, partner_ref, error, duration_ms)
VALUES (now(), 'digiledge', 'POST', '/digiledge/payment-notification', '127.0.0.1', 'db-floor',
       '{"Host": "127.0.0.1:8000", "User-Agent": "wrk", "X-API-Key": "[REDACTED]", "Content-Type": "application/json", "Content-Length": "237"}',
       '\x7b227265664964223a202242454e4348444c333030393130303030303030303031222c2022737461747573223a20225375636365737366756c222c2022726561736f6e223a2022222c202261636b223a207b22617069223a20225041594d454e545f524553504f4e5345222c20227265664964223a202242454e4348444c333030393130303030303030303031222c20226d73674964223a20224d42333030393130303031303030303030303031222c20227273704364223a2022303030222c20227473223a2022323032362d31312d32335431303a31353a30302b30353a3330222c20226572726f724d65737361676573223a205b5d7d7d',
       200, 'notification_recorded', 'DBFLOORU' || :ref, NULL, 1.5) RETURNING inbound_messages.id;
COMMIT;
