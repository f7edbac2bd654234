import json

from biller_server.clients.http import REDACTED, redact_text


def test_secret_keys_are_redacted_anywhere_in_a_json_body():
    body = json.dumps({"access_token": "abc", "nested": [{"client_secret": "s"}], "Authorization": "Bearer x", "ok": 1})

    assert json.loads(redact_text(body)) == {
        "access_token": REDACTED,
        "nested": [{"client_secret": REDACTED}],
        "Authorization": REDACTED,
        "ok": 1,
    }


def test_known_secret_values_are_redacted_from_text_that_is_not_json():
    assert redact_text("<html>bad key sk-live-1234</html>", ["sk-live-1234"]) == "<html>bad key [REDACTED]</html>"


def test_form_bodies_are_redacted_by_field():
    assert redact_text("client_id=a&client_secret=b", form=True) == "client_id=a&client_secret=%5BREDACTED%5D"
