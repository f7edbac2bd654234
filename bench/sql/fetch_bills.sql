-- The database work of one POST /bills/fetchBills, as the server sends it on PostgreSQL (traced with SQLAlchemy's
-- before_cursor_execute, issue 20), for pgbench: the customer and payable bills (every column of each) by customer
-- id in one statement, then the inbound log row; no BEGIN or COMMIT: each statement commits by itself (autocommit,
-- since 2026-11-30 15:00; before, the two ran in one transaction). bench/db_floor.py runs it; see bench/README.md.
\set cid random(1, 200000)
SELECT customers.id, customers.lender_customer_id, customers.name, customers.mobile, customers.created_at,
       customers.updated_at, bills.id, bills.customer_id, bills.partner_bill_id, bills.loan_account_number, bills.name,
       bills.amount_paise, bills.paid_paise, bills.exactness, bills.min_amount_paise, bills.max_amount_paise,
       bills.due_date, bills.generated_date, bills.status, bills.closed_at, bills.closed_reason, bills.created_at,
       bills.updated_at
  FROM customers
  JOIN (SELECT DISTINCT customer_identifiers.customer_id AS customer_id FROM customer_identifiers
         WHERE customer_identifiers.kind = 'customer_id' AND customer_identifiers.value = 'CUST' || lpad(:cid::text, 8, '0')
         LIMIT 2) AS anon_1 ON customers.id = anon_1.customer_id
  LEFT OUTER JOIN bills ON bills.customer_id = customers.id AND (bills.status = 'OPEN' OR bills.status = 'PARTIALLY_PAID')
       AND bills.paid_paise < bills.amount_paise
 ORDER BY customers.id, bills.generated_date, bills.id;
INSERT INTO inbound_messages (received_at, channel, method, path, source_address, request_id, headers, body,
       status_code, outcome, partner_ref, error, duration_ms)
VALUES (now(), 'kaleidofin', 'POST', '/bills/fetchBills', '127.0.0.1', 'db-floor',
       '{"Host": "127.0.0.1:8000", "User-Agent": "wrk", "X-API-Key": "[REDACTED]", "Content-Type": "application/json", "Content-Length": "60"}',
       '\x5b7b226964656e7469666965724b6579223a22637573746f6d65724964222c226964656e74696669657256616c7565223a22435553543030303030303031227d5d',
       200, 'available', 'CUST00000001', NULL, 1.5);
