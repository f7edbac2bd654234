"""The HTTP plumbing every partner client uses: timeouts always set, every exchange recorded with secrets
redacted, one place that turns an HTTP answer into "retry later" or "the request is wrong".

There is deliberately no automatic retry here (no urllib3 ``Retry``): a client that posts money must make its
call exactly once, and the confirmation engine owns the retry schedule for everything else.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import requests

from biller_server.clients.base import CallRecord, PartnerRejectedRequest, PartnerUnavailable
from biller_server.instruments import http_result, observe_partner_call

REDACTED = "[REDACTED]"
# Keys whose values are never stored: tokens, client secrets, API keys, passwords, Authorization headers.
_SECRET_KEY = re.compile(r"token|secret|password|passwd|api[-_]?key|authori[sz]ation|signature", re.IGNORECASE)
# Query parameters whose values are never stored: the same words, plus "key", "sig" and "auth" on their own or as a
# part of the name (``subscription-key``, ``hmacSig``, ``authToken``), and ``apikey`` written as one word.
_SECRET_PARAM = re.compile(
    r"token|secret|passw(or)?d|pwd|signature|credential|auth|api[-_.]?key|(\A|[-_.])(key|sig)(\Z|[-_.])",
    re.IGNORECASE,
)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
MAX_STORED_BODY = 20_000
MAX_STORED_URL = 500
# 401/403 mean our credentials are wrong or expired, 408/429 mean "not now": none says the request is wrong, so
# they are retried on the schedule like a 5xx (an operator can fix the credentials while the schedule runs).
_RETRYABLE_4XX = {401, 403, 408, 425, 429}


@dataclass(frozen=True)
class Timeouts:
    connect: float
    read: float

    def as_tuple(self) -> tuple[float, float]:
        return (self.connect, self.read)


def redact_json(value: Any) -> Any:
    """Replace the values of secret-looking keys anywhere in a JSON document."""
    if isinstance(value, dict):
        return {
            key: REDACTED if _SECRET_KEY.search(str(key)) and item is not None else redact_json(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    return value


def redact_text(text: str | None, secrets: Iterable[str] = (), *, form: bool = False) -> str | None:
    """Redact a body for storage: JSON by key, form bodies by field name, then any known secret value anywhere."""
    if text is None:
        return None
    redacted = text
    if form:
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True)
        redacted = urllib.parse.urlencode([(k, REDACTED if _SECRET_KEY.search(k) else v) for k, v in pairs])
    else:
        # Not JSON (a partner's error page, a truncated body): stored as it came, minus the known secrets below.
        with contextlib.suppress(ValueError):
            redacted = json.dumps(redact_json(json.loads(text)), ensure_ascii=False)
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        redacted = redacted.replace(secret, REDACTED)
    return redacted[:MAX_STORED_BODY]


def redact_url(url: str, secrets: Iterable[str] = ()) -> str:
    """A URL for storage: no user-info (``https://user:password@host`` → ``https://host``), the values of
    secret-looking query parameters replaced by ``[REDACTED]``, then any known secret value anywhere."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # not a URL urllib can split (a bad IPv6 host): the same, by hand
        head, question, query = re.sub(r"//[^/?#]*@", "//", url).partition("?")
        url = head + question + _redact_fields(query)
    else:
        netloc = parts.netloc.rpartition("@")[2]
        query, fragment = (_redact_fields(text) for text in (parts.query, parts.fragment))
        url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, fragment))
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        url = url.replace(secret, REDACTED).replace(urllib.parse.quote(secret, safe=""), REDACTED)
    return url


def _redact_fields(text: str) -> str:
    """``a=1&token=x`` → ``a=1&token=[REDACTED]``, every other byte as it was (no re-encoding)."""
    fields = []
    for field in text.split("&"):
        name, equals, _ = field.partition("=")
        readable = _CAMEL_BOUNDARY.sub("_", urllib.parse.unquote_plus(name))
        fields.append(f"{name}={REDACTED}" if equals and _SECRET_PARAM.search(readable) else field)
    return "&".join(fields)


class PartnerHttp:
    """A ``requests.Session`` for one partner that records every exchange and never waits without a timeout."""

    def __init__(
        self,
        *,
        partner: str,
        timeouts: Timeouts,
        secrets: Callable[[], Iterable[str]] = lambda: (),
        session: requests.Session | None = None,
    ) -> None:
        self.partner = partner
        self.timeouts = timeouts
        self._secrets = secrets
        self._configured_secrets: tuple[str, ...] = ()
        self.session = session or requests.Session()

    def redact_also(self, secrets: Iterable[str]) -> None:
        """Redact these values too in what is recorded: every configured secret, not only this partner's own (a
        partner echoing another channel's key, a URL holding one, would otherwise be stored in clear)."""
        self._configured_secrets = tuple(secrets)

    def _all_secrets(self) -> list[str]:
        return [*self._secrets(), *self._configured_secrets]

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        *,
        operation: str,
        method: str,
        url: str,
        calls: list[CallRecord],
        json_body: Any = None,
        form: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """Make one call and record it; raise ``PartnerUnavailable`` when no HTTP answer came back."""
        request_text: str | None = None
        data: str | None = None
        send_headers = {"Accept": "application/json", **(headers or {})}
        if json_body is not None:
            data = request_text = json.dumps(json_body, ensure_ascii=False)
            send_headers["Content-Type"] = "application/json"
        elif form is not None:
            data = request_text = urllib.parse.urlencode(form)
            send_headers["Content-Type"] = "application/x-www-form-urlencoded"
        full_url = requests.Request(method, url, params=params).prepare().url or url
        record = CallRecord(
            partner=self.partner,
            operation=operation,
            method=method,
            url=redact_url(full_url, self._all_secrets())[:MAX_STORED_URL],
            request_body=redact_text(request_text, self._all_secrets(), form=form is not None),
        )
        calls.append(record)
        started = time.perf_counter()
        try:
            response = self.session.request(
                method,
                full_url,
                data=data.encode("utf-8") if data is not None else None,
                headers=send_headers,
                timeout=self.timeouts.as_tuple(),
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            record.latency_ms = _elapsed_ms(started)
            record.error = f"timeout: {type(exc).__name__}"
            self._observe(operation, "timeout", started)
            raise PartnerUnavailable(f"{self.partner} {operation}: no answer in time ({type(exc).__name__})") from exc
        except requests.RequestException as exc:
            record.latency_ms = _elapsed_ms(started)
            record.error = f"{type(exc).__name__}: {_short(exc)}"
            self._observe(operation, "connection_error", started)
            raise PartnerUnavailable(f"{self.partner} {operation}: {type(exc).__name__}: {_short(exc)}") from exc
        record.latency_ms = _elapsed_ms(started)
        record.response_status = response.status_code
        record.response_body = redact_text(response.text, self._all_secrets())
        self._observe(operation, http_result(response.status_code), started)
        return response

    def _observe(self, operation: str, result: str, started: float) -> None:
        # Prometheus (docs/operations.md): every call counted by result, answered or not.
        observe_partner_call(
            partner=self.partner, operation=operation, result=result, seconds=time.perf_counter() - started
        )

    def check_http_status(self, response: requests.Response, operation: str, *, record: CallRecord) -> None:
        """Turn a non-2xx answer into the engine's two kinds of failure (404 is left to the client to read)."""
        status = response.status_code
        if 200 <= status < 300 or status == 404:
            return
        body = record.response_body or ""
        message = f"{self.partner} {operation}: HTTP {status}" + (f": {body[:300]}" if body else "")
        if status >= 500 or status in _RETRYABLE_4XX or status < 200 or 300 <= status < 400:
            record.error = f"HTTP {status}"
            raise PartnerUnavailable(message)
        record.error = f"HTTP {status}: request rejected"
        raise PartnerRejectedRequest(message)

    def json_of(self, response: requests.Response, operation: str, *, record: CallRecord) -> Any:
        try:
            return response.json()
        except ValueError:
            record.error = "malformed JSON"
            raise PartnerUnavailable(f"{self.partner} {operation}: malformed JSON in the answer") from None


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _short(exc: BaseException) -> str:
    return str(exc)[:300]


class TokenCache:
    """A client-credentials access token, kept until shortly before it expires and shared by one client's calls.

    ``fetch`` returns ``(token, lifetime_seconds)``. ``invalidate`` drops it, e.g. after a 401, so the next call
    asks for a fresh one.
    """

    def __init__(
        self,
        fetch: Callable[[list[CallRecord]], tuple[str, float]],
        *,
        refresh_margin_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._margin = refresh_margin_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    @property
    def current(self) -> str | None:
        return self._token

    def get(self, calls: list[CallRecord]) -> str:
        with self._lock:
            if self._token is None or self._monotonic() >= self._expires_at:
                token, lifetime = self._fetch(calls)
                self._token = token
                # Refresh a little early (but never "already expired" for a short-lived token).
                self._expires_at = self._monotonic() + max(lifetime - self._margin, lifetime / 2)
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def send(self, request: Callable[[str], requests.Response], calls: list[CallRecord]) -> requests.Response:
        """Send ``request(token)``; on a 401 the token may have been revoked or expired early: drop it once and
        send again with a fresh one."""
        response = request(self.get(calls))
        if response.status_code == 401:
            self.invalidate()
            response = request(self.get(calls))
        return response
