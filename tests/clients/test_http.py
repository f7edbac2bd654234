import json

import pytest

from biller_server.clients.http import REDACTED, PartnerHttp, Timeouts, redact_text, redact_url
from tests.fakes.server import Reply


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


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("https://user:p%40ss@partner.example/status/15", "https://partner.example/status/15"),
        ("https://user@partner.example:8443/s?refId=R1", "https://partner.example:8443/s?refId=R1"),
        (
            "https://p.example/s?refId=R1&token=abc&apikey=k1&api_key=k2&access_token=t&sig=s1&signature=s2",
            "https://p.example/s?refId=R1&token=[REDACTED]&apikey=[REDACTED]&api_key=[REDACTED]"
            "&access_token=[REDACTED]&sig=[REDACTED]&signature=[REDACTED]",
        ),
        (
            "https://p.example/s?key=1&secret=2&password=3&auth=4&apiKey=5&X-Amz-Signature=6&subscription-key=7",
            "https://p.example/s?key=[REDACTED]&secret=[REDACTED]&password=[REDACTED]&auth=[REDACTED]"
            "&apiKey=[REDACTED]&X-Amz-Signature=[REDACTED]&subscription-key=[REDACTED]",
        ),
        # Names that only look alike are kept, and so is every other byte of the query (no re-encoding).
        (
            "https://p.example/s?keyword=a+b&design=x&monkey=y&refId=R%2F1&flag",
            "https://p.example/s?keyword=a+b&design=x&monkey=y&refId=R%2F1&flag",
        ),
        (
            "https://p.example/s?TOKEN=x&Access%5FToken=y",
            "https://p.example/s?TOKEN=[REDACTED]&Access%5FToken=[REDACTED]",
        ),
        ("http://u:p@[::1/s?token=x&a=1", "http://[::1/s?token=[REDACTED]&a=1"),  # not splittable: the same by hand
    ],
    ids=["user-and-password", "user-only", "secret-names", "more-secret-names", "look-alikes", "case", "unsplittable"],
)
def test_urls_lose_their_user_info_and_secret_query_values(url, stored):
    assert redact_url(url) == stored


def test_known_secret_values_are_redacted_from_the_url_too():
    assert redact_url("https://p.example/k/sk-live-1234?q=a%20sk%20b", ["sk-live-1234", "a sk b"]) == (
        "https://p.example/k/[REDACTED]?q=[REDACTED]"
    )


def test_the_stored_call_has_the_redacted_url_and_the_partner_gets_the_real_one(fake_partner):
    fake_partner.reply("GET", "/status", Reply(body={}))
    http = PartnerHttp(partner="payu", timeouts=Timeouts(0.5, 0.5), secrets=lambda: ["outbound-key-9876"])
    url = fake_partner.url.replace("http://", "http://user:pass@") + "/status?token=t0k3n&tag=outbound-key-9876"
    calls = []

    http.request(operation="status", method="GET", url=url, params={"refId": "R1", "apiKey": "k"}, calls=calls)
    http.close()

    [call] = calls
    assert call.url == f"{fake_partner.url}/status?token=[REDACTED]&tag=[REDACTED]&refId=R1&apiKey=[REDACTED]"
    [request] = fake_partner.received("GET", "/status")
    assert request.query == {"token": ["t0k3n"], "tag": ["outbound-key-9876"], "refId": ["R1"], "apiKey": ["k"]}
    assert request.headers["authorization"].startswith("Basic ")  # requests sent the user-info as Basic auth
