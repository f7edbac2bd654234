"""Staff accounts: who may sign in to the console, with which role, and how a sign-in is decided.

Passwords are hashed with argon2id (argon2-cffi's defaults: RFC 9106's second recommended setting, 64 MiB of
memory and 3 passes), so a stolen table costs an attacker memory as well as time for every guess. Failed sign-ins
are counted by the name typed, whether or not such a user exists: a lock-out then says nothing about who exists,
and an unknown name is checked against a hash as well, so it takes as long to refuse.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import secrets
from dataclasses import dataclass
from functools import cache

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from biller_server.persistence.models import SignInFailure, StaffRole, StaffUser

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
PASSWORD_MIN_LENGTH = 12
# argon2 takes any length, but hashing a megabyte a guess is a cheap way to keep a server busy.
PASSWORD_MAX_LENGTH = 256

_hasher = PasswordHasher()


class StaffError(Exception):
    """A staff account change that cannot be made; the message says why, in words an administrator can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class LockoutPolicy:
    """``threshold`` failures, each within ``duration`` of the one before, lock the name for ``duration``."""

    threshold: int
    duration: dt.timedelta


class SignInResult(enum.StrEnum):
    SIGNED_IN = "signed_in"
    WRONG = "wrong"  # no such user, or the wrong password: the two are never told apart
    LOCKED = "locked"  # too many failures; the password was not even checked
    DISABLED = "disabled"  # the right password of a disabled account


@dataclass(frozen=True)
class SignIn:
    result: SignInResult
    user: StaffUser | None = None
    locked_until: dt.datetime | None = None


def normalise_name(text: str) -> str:
    return text.strip().lower()


def check_name(name: str) -> str:
    name = normalise_name(name)
    if not NAME_PATTERN.fullmatch(name):
        raise StaffError(
            f"{name!r} is not a valid user name: 2 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit"
        )
    return name


def check_password(password: str) -> str:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise StaffError(f"the password is too short: at least {PASSWORD_MIN_LENGTH} characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise StaffError(f"the password is too long: at most {PASSWORD_MAX_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


@cache
def _stand_in_hash() -> str:
    # Checked against when the name is unknown, so that refusing one takes as long as refusing a wrong password.
    return _hasher.hash(secrets.token_hex(16))


def _password_matches(password_hash: str, password: str) -> bool:
    if len(password) > PASSWORD_MAX_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def find_user(*, session: Session, name: str) -> StaffUser | None:
    return session.scalar(sa.select(StaffUser).where(StaffUser.name == normalise_name(name)))


def _user(session: Session, name: str) -> StaffUser:
    user = session.scalar(sa.select(StaffUser).where(StaffUser.name == normalise_name(name)).with_for_update())
    if user is None:
        raise StaffError(f"no user {normalise_name(name)!r} (biller-server users list shows them)")
    return user


def add_user(*, session: Session, name: str, role: StaffRole, password: str) -> StaffUser:
    """Create an account; its name is unique (compared in lower case)."""
    name = check_name(name)
    if find_user(session=session, name=name) is not None:
        raise StaffError(f"user {name!r} already exists")
    user = StaffUser(name=name, role=StaffRole(role), password_hash=hash_password(password), session_version=1)
    session.add(user)
    session.flush()
    return user


def list_users(*, session: Session) -> list[StaffUser]:
    return list(session.scalars(sa.select(StaffUser).order_by(StaffUser.name)))


def set_password(*, session: Session, name: str, password: str) -> StaffUser:
    """Give the user a new password: every session they hold ends, and any lock-out on the name is lifted."""
    user = _user(session, name)
    user.password_hash = hash_password(password)
    user.session_version += 1
    session.execute(sa.delete(SignInFailure).where(SignInFailure.name == user.name))
    session.flush()
    return user


def disable_user(*, session: Session, name: str, now: dt.datetime) -> StaffUser:
    """Stop the user signing in, and end every session they hold now. Disabling twice changes nothing."""
    user = _user(session, name)
    if user.disabled_at is None:
        user.disabled_at = now
        user.session_version += 1
        session.flush()
    return user


def enable_user(*, session: Session, name: str) -> StaffUser:
    user = _user(session, name)
    user.disabled_at = None
    session.flush()
    return user


def end_sessions(*, session: Session, user_id: int) -> None:
    """End every session of the user (signing out ends them all: the cookies cannot be recalled one by one)."""
    session.execute(
        sa.update(StaffUser).where(StaffUser.id == user_id).values(session_version=StaffUser.session_version + 1)
    )


def session_user(*, session: Session, user_id: int, session_version: int) -> StaffUser | None:
    """The user a session cookie names, if that session still stands: the user enabled and nothing ended it."""
    user = session.get(StaffUser, user_id)
    if user is None or user.disabled_at is not None or user.session_version != session_version:
        return None
    return user


def sign_in(*, session: Session, name: str, password: str, policy: LockoutPolicy, now: dt.datetime) -> SignIn:
    """Decide a sign-in. The caller commits whatever the result: failures must be counted even when refused."""
    name = normalise_name(name)
    if not NAME_PATTERN.fullmatch(name):
        _password_matches(_stand_in_hash(), password)  # no such user can exist; take as long as for one that does
        return SignIn(SignInResult.WRONG)
    failure = session.get(SignInFailure, name, with_for_update=True, populate_existing=True)
    if failure is not None and failure.locked_until is not None and failure.locked_until > now:
        return SignIn(SignInResult.LOCKED, locked_until=failure.locked_until)
    user = find_user(session=session, name=name)
    matches = _password_matches(user.password_hash if user else _stand_in_hash(), password)
    if user is not None and matches:
        if user.disabled_at is not None:
            return SignIn(SignInResult.DISABLED)
        if failure is not None:
            session.delete(failure)
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)  # argon2's parameters were raised since it was set
        user.last_sign_in_at = now
        session.flush()
        return SignIn(SignInResult.SIGNED_IN, user=user)
    failure = _count_failure(session, failure, name, policy, now)
    if failure.locked_until is not None and failure.locked_until > now:
        return SignIn(SignInResult.LOCKED, locked_until=failure.locked_until)
    return SignIn(SignInResult.WRONG)


def _count_failure(
    session: Session, failure: SignInFailure | None, name: str, policy: LockoutPolicy, now: dt.datetime
) -> SignInFailure:
    if failure is None:
        try:
            with session.begin_nested():
                failure = SignInFailure(name=name, failures=0, last_failure_at=now)
                session.add(failure)
        except sa.exc.IntegrityError:
            # Another failed sign-in for the same name inserted its row first: count on that one.
            failure = session.get(SignInFailure, name, with_for_update=True, populate_existing=True)
            assert failure is not None
    # Rows of names whose failures no longer count are of no use: keep the table as small as the recent failures.
    session.execute(
        sa.delete(SignInFailure).where(
            SignInFailure.name != name,
            SignInFailure.last_failure_at < now - policy.duration,
            sa.or_(SignInFailure.locked_until.is_(None), SignInFailure.locked_until < now),
        )
    )
    if now - failure.last_failure_at > policy.duration:
        failure.failures = 0  # the earlier failures are too old to count towards a lock-out
    failure.failures += 1
    failure.last_failure_at = now
    failure.locked_until = now + policy.duration if failure.failures >= policy.threshold else None
    session.flush()
    return failure
