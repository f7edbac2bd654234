"""Signing in and out, lock-out, sessions that end, and the form token every form carries."""

import datetime as dt

import pytest
import sqlalchemy as sa

from biller_server.console.auth import POLICY_KEY, SessionPolicy
from biller_server.domain.staff.accounts import disable_user, set_password
from biller_server.persistence.models import AuditEntry, SignInFailure
from tests.console.conftest import PASSWORD, form_token, sign_in


def audit_rows(session, action=None):
    query = sa.select(AuditEntry).order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(session.scalars(query))


def test_every_page_but_sign_in_sends_a_stranger_to_sign_in(client):
    response = client.get("/console/today")

    assert response.status_code == 302
    assert response.headers["Location"] == "/console/sign-in?next=/console/today"


def test_the_right_password_signs_in_and_lands_on_the_page_asked_for(client, staff, session):
    response = sign_in(client, "viewer", next="/console/find?q=AY1234")

    assert response.status_code == 302
    assert response.headers["Location"] == "/console/find?q=AY1234"
    assert client.get("/console/today").status_code == 200
    (entry,) = audit_rows(session, "sign_in")
    assert (entry.actor, entry.outcome) == ("viewer", "signed_in")


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/console/\\evil", "/bills/fetchBills"]
)
def test_sign_in_never_sends_the_person_off_the_console(client, staff, target):
    response = sign_in(client, "viewer", next=target)

    assert response.headers["Location"] == "/console/today"


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(client, staff, session):
    wrong_password = sign_in(client, "viewer", password="not-the-password")
    unknown_name = sign_in(client, "nobody", password=PASSWORD)

    for response in (wrong_password, unknown_name):
        assert response.status_code == 401
        assert "Wrong name or password." in response.text
    assert client.get("/console/today").status_code == 302
    assert [entry.outcome for entry in audit_rows(session, "sign_in")] == ["wrong", "wrong"]


def test_repeated_failures_lock_the_name_even_for_the_right_password(client, staff, session):
    for _ in range(3):  # the threshold in these tests
        response = sign_in(client, "operator", password="not-the-password")

    assert response.status_code == 401
    assert "Too many failed sign-ins" in response.text
    locked = sign_in(client, "operator", password=PASSWORD)
    assert locked.status_code == 401
    assert "Too many failed sign-ins" in locked.text
    assert [entry.outcome for entry in audit_rows(session, "sign_in")] == ["wrong", "wrong", "locked", "locked"]
    # Another name is not affected.
    assert sign_in(client, "viewer").status_code == 302


def test_an_unknown_name_locks_the_same_way_so_a_lock_out_reveals_nothing(client, staff, session):
    for _ in range(3):
        response = sign_in(client, "no-such-person", password="guess-number-x")

    assert "Too many failed sign-ins" in response.text
    assert session.get(SignInFailure, "no-such-person").failures == 3


def test_a_new_password_lifts_the_lock_out(client, staff, session):
    for _ in range(3):
        sign_in(client, "operator", password="not-the-password")

    set_password(session=session, name="operator", password="a-brand-new-password")

    assert sign_in(client, "operator", password="a-brand-new-password").status_code == 302


def test_a_disabled_account_cannot_sign_in(client, staff, session):
    disable_user(session=session, name="viewer", now=dt.datetime.now(dt.UTC))

    response = sign_in(client, "viewer")

    assert response.status_code == 401
    assert "This account is disabled" in response.text


def test_disabling_a_user_ends_the_session_they_hold(signed_in, session):
    client = signed_in("operator")

    disable_user(session=session, name="operator", now=dt.datetime.now(dt.UTC))

    assert client.get("/console/today").status_code == 302


def test_a_new_password_ends_the_sessions_held_with_the_old_one(signed_in, session):
    client = signed_in("operator")

    set_password(session=session, name="operator", password="a-brand-new-password")

    assert client.get("/console/today").status_code == 302


def test_signing_out_ends_the_session_and_a_copy_of_its_cookie(app, signed_in):
    client = signed_in("viewer")
    copy = app.test_client()
    copy.set_cookie("biller_console", client.get_cookie("biller_console", path="/console").value, path="/console")
    assert copy.get("/console/today").status_code == 200

    response = client.post("/console/sign-out", data={"csrf_token": form_token(client, "/console/today")})

    assert response.status_code == 302
    assert client.get("/console/today").status_code == 302
    assert copy.get("/console/today").status_code == 302


def test_a_session_left_idle_ends(app, signed_in):
    client = signed_in("viewer")
    app.extensions[POLICY_KEY] = SessionPolicy(idle=dt.timedelta(seconds=-1), max_age=dt.timedelta(hours=12))

    assert client.get("/console/today").status_code == 302


def test_a_session_ends_at_its_maximum_age_however_busy(app, signed_in):
    client = signed_in("viewer")
    app.extensions[POLICY_KEY] = SessionPolicy(idle=dt.timedelta(minutes=30), max_age=dt.timedelta(seconds=-1))

    assert client.get("/console/today").status_code == 302


def test_the_session_cookie_is_http_only_same_site_and_kept_to_the_console(client, staff):
    response = sign_in(client, "viewer")

    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("biller_console=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # development and test serve plain HTTP; production sets it (test_enabling)


def test_a_form_without_its_token_is_refused_and_changes_nothing(client, staff, session):
    form_token(client)

    response = client.post("/console/sign-in", data={"name": "viewer", "password": PASSWORD})

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "not sent from a page of this console" in response.text
    assert client.get("/console/today").status_code == 302
    assert [entry.action for entry in audit_rows(session)] == ["csrf_refused"]


def test_another_session_s_token_is_refused(app, client, staff):
    other = app.test_client()
    token = form_token(other)
    form_token(client)

    response = client.post("/console/sign-in", data={"csrf_token": token, "name": "viewer", "password": PASSWORD})

    assert response.status_code == 400


def test_signing_in_gives_a_new_session_and_token(client, staff):
    before = form_token(client)

    sign_in(client, "viewer")

    assert form_token(client, "/console/today") != before
