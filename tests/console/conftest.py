"""The console through Flask's test client: an app with the console enabled, staff of each role, and a client
that signs in as a person would (the sign-in page first, for its form token)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from biller_server.console.uploads import RUNNER_KEY
from biller_server.domain.staff.accounts import add_user
from biller_server.persistence.models import StaffRole

PASSWORD = "correct-horse-battery"
SECRET_KEY = "k" * 64
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(autouse=True)
def _fast_hashing(cheap_password_hashing: None) -> None:
    pass


@pytest.fixture
def settings_overrides(tmp_path) -> dict[str, object]:
    return {
        "console_enabled": True,
        "console_secret_key": SECRET_KEY,
        "console_lockout_threshold": 3,
        "instance_dir": tmp_path / "instance",  # where uploads are kept
    }


@pytest.fixture
def inline_uploads(app) -> None:
    """The upload's background work run inline, in the request (the browser tests run serve's own thread)."""
    app.extensions[RUNNER_KEY] = lambda work: work()


@pytest.fixture
def staff(session) -> dict[str, str]:
    """One user of each role, named after it, with PASSWORD."""
    for role in StaffRole:
        add_user(session=session, name=role.value, role=role, password=PASSWORD)
    session.flush()
    return {role.value: role.value for role in StaffRole}


def form_token(client: FlaskClient, path: str = "/console/sign-in") -> str:
    """The form token of the client's session, read from a page as a browser would."""
    response = client.get(path)
    match = TOKEN.search(response.text)
    assert match, response.text[:500]
    return match.group(1)


def sign_in(client: FlaskClient, name: str, password: str = PASSWORD, **extra: str):
    token = form_token(client)
    return client.post("/console/sign-in", data={"csrf_token": token, "name": name, "password": password, **extra})


@pytest.fixture
def signed_in(app, staff) -> Callable[[str], FlaskClient]:
    """``signed_in("operator")``: a client signed in as that user."""

    def make(name: str) -> FlaskClient:
        client = app.test_client()
        response = sign_in(client, name)
        assert response.status_code == 302, response.text
        return client

    return make
