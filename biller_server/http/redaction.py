"""Configured secret values, found and replaced wherever they appear: log lines, and what the inbound log stores.

A partner that sends its key under a header we do not expect (``X-Api-Token: <key>``), echoes it in a body, or puts
it in a path must not leave it in clear in ``inbound_messages``; redacting headers by name alone misses all three.
The values come from ``Settings.secret_values()``; each is also looked for as a JSON string escape and URL-encoded
would write it.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable

REDACTED = "[REDACTED]"
# Shorter values would redact ordinary text; no secret this server accepts is that short.
MIN_SECRET_LENGTH = 4


class SecretRedactor:
    """Replaces every configured secret value in text or bytes by ``[REDACTED]`` (one scan, longest first)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= MIN_SECRET_LENGTH:
                forms |= {
                    secret,
                    urllib.parse.quote(secret, safe=""),
                    json.dumps(secret)[1:-1],
                    secret.encode("utf-8").decode("latin-1"),  # a header value as WSGI hands it over
                }
        ordered = sorted(forms, key=len, reverse=True)  # a secret that contains another is replaced whole
        self._text = re.compile("|".join(re.escape(form) for form in ordered)) if ordered else None
        self._bytes = re.compile(b"|".join(re.escape(form.encode("utf-8")) for form in ordered)) if ordered else None

    def __bool__(self) -> bool:
        return self._text is not None

    def found_in(self, text: str) -> bool:
        return self._text is not None and self._text.search(text) is not None

    def text(self, text: str) -> str:
        return text if self._text is None else self._text.sub(REDACTED, text)

    def bytes(self, data: bytes) -> bytes:
        return data if self._bytes is None else self._bytes.sub(REDACTED.encode(), data)
