-- The database work of one POST /digiledge/payment-notification whose refId names a payment waiting for its
-- verdict ("Successful" for a RECEIVED payment: 80 % of bench/serve_load.py's notifications), as the server sends it
-- (traced with SQLAlchemy's before_cursor_execute on the notify branch, bench/notification_inprocess.py --trace),
-- for pgbench: lock the payment, store the notification (INSERT ... ON CONFLICT DO NOTHING RETURNING), confirm the
-- payment and add its event, the notification's outcome and acknowledgement, the inbound log row, one commit.
-- The payments are bench/db_floor.py's own (DBFLOORN..., made before the run and deleted after with everything
-- the script writes); each UPDATE really changes the status (RECEIVED <-> CONFIRMED), as a confirmation does, so a
-- payment picked twice costs what the first pick did.
\set n random(1, 50000)
\set fp random(1, 1000000000000000000)
BEGIN;
SELECT payments.id, payments.bill_id, payments.channel, payments.partner_txn_ref, payments.customer_txn_ref,
       payments.partner_bill_ref, payments.amount_paise, payments.declared_bill_amount_paise, payments.paid_at,
       payments.status, payments.status_reason, payments.reason_codes, payments.applied_to_bill, payments.flagged,
       payments.flag_reason, payments.settlement_state, payments.settlement_ref, payments.settled_on,
       payments.created_at, payments.updated_at
  FROM payments WHERE payments.channel = 'digiledge' AND payments.partner_txn_ref = 'DBFLOORN' || :n FOR UPDATE
\gset p_
INSERT INTO payment_notifications (received_at, channel, ref_id, msg_id, fingerprint, body, reported_status, reason,
       reason_codes, payment_id, outcome, ack_code, ack_status, ack_reason, needs_reconciliation)
VALUES (now(), 'digiledge', 'DBFLOORN' || :n, 'MDBFLOOR' || :fp, lpad(:fp::text, 64, '0'),
       '{"refId": "DBFLOORN1", "status": "Successful", "reason": "", "ack": {"api": "PAYMENT_RESPONSE", "refId": "DBFLOORN1", "msgId": "MB300910001000000001", "rspCd": "000", "ts": "2026-11-23T10:15:00+05:30", "errorMessages": []}}',
       'Successful', NULL, 'null', :p_id, 'received', 0, '', '', false)
ON CONFLICT (channel, fingerprint) DO NOTHING RETURNING payment_notifications.id \gset notification_
UPDATE payments SET status = CASE WHEN :p_status = 'RECEIVED' THEN 'CONFIRMED' ELSE 'RECEIVED' END, updated_at = now()
 WHERE payments.id = :p_id;
INSERT INTO payment_events (payment_id, occurred_at, kind, from_status, to_status, source, detail)
VALUES (:p_id, now(), 'confirmed', 'RECEIVED', 'CONFIRMED', 'digiledge_notification', '{}') RETURNING payment_events.id;
UPDATE payment_notifications SET outcome = 'applied', ack_code = 200, ack_status = 'ACCEPTED',
       ack_reason = 'Payment confirmed', needs_reconciliation = false
 WHERE payment_notifications.id = :notification_id;
INSERT INTO inbound_messages (received_at, channel, method, path, source_address, request_id, headers, body,
       status_code, outcome, partner_ref, error, duration_ms)
VALUES (now(), 'digiledge', 'POST', '/digiledge/payment-notification', '127.0.0.1', 'db-floor',
       '{"Host": "127.0.0.1:8000", "User-Agent": "wrk", "X-API-Key": "[REDACTED]", "Content-Type": "application/json", "Content-Length": "249"}',
       '\x7b227265664964223a202242454e4348444c333030393130303030303030303031222c2022737461747573223a20225375636365737366756c222c2022726561736f6e223a2022222c202261636b223a207b22617069223a20225041594d454e545f524553504f4e5345222c20227265664964223a202242454e4348444c333030393130303030303030303031222c20226d73674964223a20224d42333030393130303031303030303030303031222c20227273704364223a2022303030222c20227473223a2022323032362d31312d32335431303a31353a30302b30353a3330222c20226572726f724d65737361676573223a205b5d7d7d',
       200, 'notification_accepted', 'DBFLOORN' || :n, NULL, 1.5) RETURNING inbound_messages.id;
COMMIT;
