-- fetch_bills.sql's SELECT alone (no inbound log row, no transaction): what a bill fetch would cost the database if
-- it were not logged, for comparison. bench/db_floor.py runs it.
\set cid random(1, 200000)
SELECT customers.id, customers.lender_customer_id, customers.name, customers.mobile, bills.id, bills.partner_bill_id,
       bills.name, bills.amount_paise, bills.paid_paise, bills.exactness, bills.min_amount_paise,
       bills.max_amount_paise, bills.due_date, bills.generated_date, bills.status
  FROM customers
  JOIN (SELECT DISTINCT customer_identifiers.customer_id AS customer_id FROM customer_identifiers
         WHERE customer_identifiers.kind = 'customer_id' AND customer_identifiers.value = 'CUST' || lpad(:cid::text, 8, '0')
         LIMIT 2) AS anon_1 ON customers.id = anon_1.customer_id
  LEFT OUTER JOIN bills ON bills.customer_id = customers.id AND bills.status IN ('OPEN', 'PARTIALLY_PAID')
       AND bills.paid_paise < bills.amount_paise
 ORDER BY customers.id, bills.generated_date, bills.id;
