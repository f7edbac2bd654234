"""Staff accounts: names, passwords hashed with argon2id, and how a sign-in is decided."""

import datetime as dt

import pytest
from argon2 import PasswordHasher

from biller_server.domain.staff import accounts
from biller_server.domain.staff.accounts import (
    LockoutPolicy,
    SignInResult,
    StaffError,
    add_user,
    disable_user,
    enable_user,
    session_user,
    set_password,
    sign_in,
)
from biller_server.domain.staff.roles import Permission, may
from biller_server.persistence.models import SignInFailure, StaffRole

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
POLICY = LockoutPolicy(threshold=3, duration=dt.timedelta(minutes=15))
PASSWORD = "correct-horse-battery"


def test_passwords_are_hashed_with_argon2id_at_64_mib_and_3_passes(session):
    user = add_user(session=session, name="Asha", role=StaffRole.OPERATOR, password=PASSWORD)

    assert user.name == "asha"
    assert user.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in user.password_hash


@pytest.fixture
def cheap(cheap_password_hashing):
    return None


@pytest.mark.parametrize("name", ["a", "with space", "-leading", "x" * 65, "naïve", ""])
def test_a_name_outside_the_pattern_is_refused(session, cheap, name):
    with pytest.raises(StaffError, match="not a valid user name"):
        add_user(session=session, name=name, role=StaffRole.VIEWER, password=PASSWORD)


@pytest.mark.parametrize(("password", "problem"), [("short", "too short"), ("p" * 257, "too long")])
def test_a_password_outside_the_limits_is_refused(session, cheap, password, problem):
    with pytest.raises(StaffError, match=problem):
        add_user(session=session, name="asha", role=StaffRole.VIEWER, password=password)


def test_a_name_is_unique_whatever_its_case(session, cheap):
    add_user(session=session, name="asha", role=StaffRole.VIEWER, password=PASSWORD)

    with pytest.raises(StaffError, match="already exists"):
        add_user(session=session, name="ASHA", role=StaffRole.ADMIN, password=PASSWORD)


def test_the_name_is_matched_whatever_its_case_and_spaces(session, cheap):
    add_user(session=session, name="asha", role=StaffRole.VIEWER, password=PASSWORD)

    assert sign_in(session=session, name="  Asha ", password=PASSWORD, policy=POLICY, now=NOW).result is (
        SignInResult.SIGNED_IN
    )


def test_failures_older_than_the_lock_out_time_do_not_count(session, cheap):
    add_user(session=session, name="asha", role=StaffRole.VIEWER, password=PASSWORD)
    for minutes in (0, 20, 40):  # three failures, each long after the one before
        result = sign_in(
            session=session,
            name="asha",
            password="wrong-password",
            policy=POLICY,
            now=NOW + dt.timedelta(minutes=minutes),
        )
        assert result.result is SignInResult.WRONG

    assert session.get(SignInFailure, "asha").failures == 1


def test_a_lock_out_ends_after_its_time(session, cheap):
    add_user(session=session, name="asha", role=StaffRole.VIEWER, password=PASSWORD)
    for _ in range(3):
        last = sign_in(session=session, name="asha", password="wrong-password", policy=POLICY, now=NOW)
    assert last.result is SignInResult.LOCKED and last.locked_until == NOW + POLICY.duration

    later = sign_in(session=session, name="asha", password=PASSWORD, policy=POLICY, now=NOW + dt.timedelta(minutes=16))

    assert later.result is SignInResult.SIGNED_IN
    assert session.get(SignInFailure, "asha") is None  # a success forgets the failures


def test_stale_failure_rows_of_other_names_are_dropped(session, cheap):
    sign_in(session=session, name="someone", password="wrong-password", policy=POLICY, now=NOW)

    sign_in(session=session, name="another", password="wrong-password", policy=POLICY, now=NOW + dt.timedelta(hours=1))

    assert session.get(SignInFailure, "someone") is None
    assert session.get(SignInFailure, "another") is not None


def test_a_hash_made_with_weaker_parameters_is_replaced_at_the_next_sign_in(session, cheap):
    user = add_user(session=session, name="asha", role=StaffRole.VIEWER, password=PASSWORD)
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, salt_len=8).hash(PASSWORD)
    old = user.password_hash

    sign_in(session=session, name="asha", password=PASSWORD, policy=POLICY, now=NOW)

    assert user.password_hash != old
    assert accounts._hasher.verify(user.password_hash, PASSWORD)


def test_a_session_stands_only_while_the_user_is_enabled_and_nothing_ended_it(session, cheap):
    user = add_user(session=session, name="asha", role=StaffRole.VIEWER, password=PASSWORD)
    assert session_user(session=session, user_id=user.id, session_version=1) is user

    set_password(session=session, name="asha", password="another-long-password")
    assert session_user(session=session, user_id=user.id, session_version=1) is None
    assert session_user(session=session, user_id=user.id, session_version=2) is user

    disable_user(session=session, name="asha", now=NOW)
    assert session_user(session=session, user_id=user.id, session_version=3) is None
    enable_user(session=session, name="asha")
    assert session_user(session=session, user_id=user.id, session_version=3) is user


def test_changing_an_unknown_user_names_it(session, cheap):
    with pytest.raises(StaffError, match="no user 'ghost'"):
        disable_user(session=session, name="ghost", now=NOW)


def test_a_viewer_changes_nothing_and_an_operator_may_cancel_a_bill():
    assert may(StaffRole.VIEWER, Permission.VIEW) and not may(StaffRole.VIEWER, Permission.CANCEL_BILL)
    assert may(StaffRole.OPERATOR, Permission.CANCEL_BILL) and may(StaffRole.ADMIN, Permission.CANCEL_BILL)
