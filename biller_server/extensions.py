"""The application's extensions: the database and the OpenAPI ``Api``, one of each per app instance.

They are made per app (not module globals) so that several apps, e.g. one on SQLite and one on PostgreSQL in
the same test run, never share an engine or an OpenAPI document.
"""

from __future__ import annotations

from flask import Flask, current_app
from flask_smorest import Api
from sqlalchemy.orm import Session

from biller_server.config import Settings
from biller_server.http.state import request_state
from biller_server.persistence.database import Database, statements_commit_alone

DB_KEY = "biller_server.db"
SETTINGS_KEY = "biller_server.settings"


def init_extensions(app: Flask, settings: Settings) -> Api:
    database = Database()
    database.configure(settings)
    app.extensions[DB_KEY] = database
    app.extensions[SETTINGS_KEY] = settings
    app.teardown_request(close_request_session)
    return Api(app)


def get_db() -> Database:
    return current_app.extensions[DB_KEY]


def get_settings() -> Settings:
    return current_app.extensions[SETTINGS_KEY]


def request_session() -> Session:
    """The request's one session, closed when the request ends."""
    state = request_state()
    session: Session | None = state.get("db_session")
    if session is None:
        session = state["db_session"] = get_db().new_session()
        if state.get("read_only"):  # a bill fetch (http.inbound_log.note_read_only_request)
            statements_commit_alone(session)
    return session


def close_request_session(_exc: BaseException | None = None) -> None:
    session: Session | None = request_state().pop("db_session", None)
    if session is not None:
        session.close()
