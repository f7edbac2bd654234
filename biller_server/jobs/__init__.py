"""The durable work queue and the worker that carries it out (confirmations, offline payment postings, deliveries)."""
