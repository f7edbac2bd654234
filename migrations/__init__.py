"""Alembic migrations of the books; installed as biller_server.migrations."""
