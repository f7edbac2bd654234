"""Channel authentication: an API key header, HTTP Basic or a signed JWT, and a source allow-list.

Secrets are compared in constant time. A JWT (Setu's scheme: HS256, ``aud`` the agreed audience, ``iat`` at most
two minutes old, a unique ``jti``) is also protected against replay: each ``jti`` is remembered with its request's
body until its token would have expired anyway; the same ``jti`` with another body is refused (425
``duplicate-request``), while an exact retry is let through to the idempotent endpoint.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from flask import Request
from flask_smorest import abort
from werkzeug.exceptions import Forbidden, HTTPException, Unauthorized

from biller_server.config import ChannelAuthScheme, Settings

# remember_nonce(channel, nonce, expires_at, body_sha256) -> False when the nonce was used with another body.
NonceStore = Callable[[str, str, dt.datetime, str], bool]


class TooEarly(HTTPException):
    """425: Setu's answer to a signed request whose id was already used."""

    code = 425
    description = "This token's jti was already used for a different request."


@dataclass(frozen=True)
class ChannelAuth:
    """How one partner channel proves who it is."""

    scheme: ChannelAuthScheme
    api_key_header: str = "X-API-Key"
    # More than one key is valid at once while a key is being rotated.
    api_keys: tuple[str, ...] = ()
    basic_username: str | None = None
    basic_password: str | None = None
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(default_factory=tuple)
    channel: str = ""
    jwt_secret: str | None = None
    jwt_audience: str | None = None
    jwt_max_age_seconds: int = 120
    jwt_clock_skew_seconds: int = 5
    remember_nonce: NonceStore | None = None

    @classmethod
    def from_settings(cls, settings: Settings, channel: str, remember_nonce: NonceStore | None = None) -> ChannelAuth:
        """The channel's authentication from its ``ChannelSettings`` (secrets through ``Settings.secret``, which
        knows the development placeholders)."""
        config = settings.channels()[channel]
        keys = tuple(
            key
            for key in (settings.secret(f"{channel}_api_key"), settings.secret(f"{channel}_previous_api_key"))
            if key
        )
        return cls(
            scheme=config.auth_scheme,
            api_key_header=config.api_key_header,
            api_keys=keys,
            basic_username=config.basic_username,
            basic_password=settings.secret(f"{channel}_basic_password"),
            allowed_networks=tuple(ipaddress.ip_network(network, strict=False) for network in config.allowed_networks),
            channel=channel,
            jwt_secret=settings.secret(f"{channel}_jwt_secret"),
            jwt_audience=config.jwt_audience,
            jwt_max_age_seconds=settings.jwt_max_age_seconds,
            jwt_clock_skew_seconds=settings.jwt_clock_skew_seconds,
            remember_nonce=remember_nonce,
        )

    @property
    def secret_header_names(self) -> set[str]:
        return {"authorization", self.api_key_header.lower()}

    def check(self, request: Request) -> None:
        """Raise 403 for a source outside the allow-list and 401 for a missing or wrong credential."""
        if self.allowed_networks and not self._source_allowed(request.remote_addr):
            raise Forbidden("This source address is not allowed to call this channel.")
        if self.scheme is ChannelAuthScheme.API_KEY:
            presented = request.headers.get(self.api_key_header, "")
            if not presented or not _matches_any(presented, self.api_keys):
                raise Unauthorized(f"Missing or invalid {self.api_key_header} header.")
        elif self.scheme is ChannelAuthScheme.JWT:
            self._check_jwt(request.headers.get("Authorization", ""), request.get_data(cache=True))
        else:
            username, password = _basic_credentials(request.headers.get("Authorization", ""))
            expected_user, expected_password = self.basic_username or "", self.basic_password or ""
            user_ok = hmac.compare_digest(username.encode(), expected_user.encode())
            password_ok = hmac.compare_digest(password.encode(), expected_password.encode())
            if not (expected_user and expected_password and user_ok and password_ok):
                raise Unauthorized("Missing or invalid HTTP Basic credentials.")

    def _check_jwt(self, header: str, body: bytes) -> None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip() or not self.jwt_secret or not self.jwt_audience:
            abort(401, message="Missing bearer token.", error_code="jwt-verification-failed")
        try:
            claims: dict[str, Any] = jwt.decode(
                token.strip(),
                self.jwt_secret,
                algorithms=["HS256"],
                audience=self.jwt_audience,
                options={"require": ["aud", "iat", "jti"], "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            abort(401, message=f"Token refused: {type(exc).__name__}.", error_code="jwt-verification-failed")
        issued_at = claims["iat"]
        if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
            abort(401, message="Token refused: iat is not a number.", error_code="jwt-verification-failed")
        age = time.time() - issued_at
        if age > self.jwt_max_age_seconds:
            abort(401, message="Token is older than the accepted window.", error_code="jwt-token-expired")
        if age < -self.jwt_clock_skew_seconds:
            abort(401, message="Token is issued in the future.", error_code="jwt-verification-failed")
        nonce = str(claims["jti"])[:128]
        if not nonce:
            abort(401, message="Token refused: empty jti.", error_code="jwt-verification-failed")
        # Remember the id until the token could no longer pass the age check anyway.
        expires_at = dt.datetime.fromtimestamp(issued_at + self.jwt_max_age_seconds + 1, dt.UTC)
        body_sha256 = hashlib.sha256(body).hexdigest()
        if self.remember_nonce is not None and not self.remember_nonce(self.channel, nonce, expires_at, body_sha256):
            raise TooEarly()

    def _source_allowed(self, address: str | None) -> bool:
        try:
            source = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(source in network for network in self.allowed_networks)


def _matches_any(presented: str, keys: tuple[str, ...]) -> bool:
    # Compare with every key, whatever the result, so timing says nothing about which one is valid.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented.encode(), key.encode())
    return matched


def _basic_credentials(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    username, separator, password = decoded.partition(":")
    return (username, password) if separator else ("", "")
