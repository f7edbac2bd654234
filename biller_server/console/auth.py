"""Who is signed in to the console, and what protects every form.

The session is Flask's signed cookie (HttpOnly, SameSite=Lax, Secure in production, scoped to /console). It
names the user and the ``session_version`` it was issued under; every request checks against the books that the
user is still enabled and that nothing ended the session since (sign-out, disable, new password), and that it is
neither idle past ``BILLER_CONSOLE_SESSION_IDLE_MINUTES`` nor older than ``BILLER_CONSOLE_SESSION_MAX_HOURS``.

Every form carries a token kept in the session (the synchroniser pattern): a POST without it, or with another,
is refused before the view runs. A small own implementation rather than Flask-WTF's CSRFProtect: that one guards
every POST of the whole app unless each partner blueprint is exempted, and the partner API must never depend on
the console; this one is a ``before_request`` of the console's blueprint only.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, abort, current_app, request, session
from sqlalchemy.orm import Session

from biller_server.config import Settings
from biller_server.domain.staff.accounts import session_user
from biller_server.domain.staff.audit import record_audit
from biller_server.domain.staff.roles import Permission, may
from biller_server.extensions import get_db
from biller_server.http.logging import current_request_id
from biller_server.http.state import request_state
from biller_server.persistence.models import StaffRole
from biller_server.persistence.types import utcnow

POLICY_KEY = "biller_server.console_policy"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class SessionPolicy:
    idle: dt.timedelta
    max_age: dt.timedelta


@dataclass(frozen=True)
class StaffMember:
    """The signed-in person, as read from the books at the start of this request."""

    id: int
    name: str
    role: StaffRole

    def may(self, permission: Permission | str) -> bool:
        return may(self.role, Permission(permission))


def init_auth(app: Flask, settings: Settings) -> None:
    app.extensions[POLICY_KEY] = SessionPolicy(
        idle=dt.timedelta(minutes=settings.console_session_idle_minutes),
        max_age=dt.timedelta(hours=settings.console_session_max_hours),
    )


def csrf_token() -> str:
    """The session's form token, made on first use (a page with a form is the first thing a visitor gets)."""
    token = session.get(CSRF_FIELD)
    if not token:
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Refuse an unsafe request whose form token is missing or is not this session's."""
    if request.method not in UNSAFE_METHODS:
        return
    expected = session.get(CSRF_FIELD)
    sent = request.form.get(CSRF_FIELD, "")
    if not expected or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        audit_on_its_own("csrf_refused", outcome="refused", detail={"path": request.path[:200]})
        abort(
            400,
            description="This form was not sent from a page of this console, or the page is too old: reload it and "
            "try again.",
        )


def start_session(member: StaffMember, session_version: int) -> None:
    """Begin a signed-in session: a fresh cookie (nothing carried over from before sign-in) and a fresh token."""
    session.clear()
    session.permanent = True
    now = int(time.time())
    session.update(uid=member.id, ver=session_version, at=now, seen=now, **{CSRF_FIELD: secrets.token_urlsafe(32)})


def end_session() -> None:
    session.clear()


def signed_in_member() -> StaffMember | None:
    """The person this request's session names, if the session still stands (checked against the books)."""
    state = request_state()
    if "staff_member" in state:
        return state["staff_member"]
    state["staff_member"] = member = _member_from_session()
    return member


def _member_from_session() -> StaffMember | None:
    user_id, version = session.get("uid"), session.get("ver")
    if not isinstance(user_id, int) or not isinstance(version, int):
        return None
    policy: SessionPolicy = current_app.extensions[POLICY_KEY]
    now = time.time()
    if (
        now - session.get("seen", 0) > policy.idle.total_seconds()
        or now - session.get("at", 0) > policy.max_age.total_seconds()
    ):
        session.clear()
        return None
    # A short transaction of its own: the request's later work may need the database's write lock (SQLite).
    with get_db().new_session() as books:
        user = session_user(session=books, user_id=user_id, session_version=version)
        member = StaffMember(user.id, user.name, user.role) if user is not None else None
    if member is None:
        session.clear()
        return None
    session["seen"] = int(now)
    return member


F = TypeVar("F", bound=Callable[..., Any])


def requires(permission: Permission, *, target: Callable[[], str] | None = None) -> Callable[[F], F]:
    """Refuse the view, on the server, to a signed-in person whose role does not allow ``permission``; the refusal
    is audited, naming what it was about when ``target`` says."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            member = signed_in_member()
            if member is None or not member.may(permission):
                audit_on_its_own(
                    str(permission),
                    outcome="refused",
                    target=target() if target else None,
                    detail={"reason": "role", "path": request.path[:200]},
                )
                abort(403, description="Your role does not allow this. Ask an administrator if you need it.")
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


def audit(
    books: Session,
    action: str,
    *,
    outcome: str,
    actor: str | None = None,
    target: str | None = None,
    note: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add this request's audit entry to ``books`` (the transaction of the action it records)."""
    member = signed_in_member()
    record_audit(
        session=books,
        actor=actor or (member.name if member else "anonymous"),
        action=action,
        outcome=outcome,
        now=utcnow(),
        target=target,
        note=note,
        detail=detail,
        source_address=request.remote_addr,
        request_id=current_request_id(),
    )


def audit_on_its_own(action: str, *, outcome: str, **fields: Any) -> None:
    """Record an action that was refused or failed, in a transaction of its own (the action's was rolled back)."""
    with get_db().transaction() as books:
        audit(books, action, outcome=outcome, **fields)
