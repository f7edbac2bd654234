"""The books: typed SQLAlchemy models, the engine and sessions, SQLite and PostgreSQL alike."""
