"""Channel authentication: an API key header or HTTP Basic, compared in constant time, and a source allow-list."""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from dataclasses import dataclass, field

from flask import Request
from werkzeug.exceptions import Forbidden, Unauthorized

from biller_server.config import ChannelAuthScheme, Settings


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

    @classmethod
    def from_settings(cls, settings: Settings, channel: str) -> ChannelAuth:
        keys = tuple(
            key
            for key in (settings.secret(f"{channel}_api_key"), settings.secret(f"{channel}_previous_api_key"))
            if key
        )
        return cls(
            scheme=getattr(settings, f"{channel}_auth_scheme"),
            api_key_header=getattr(settings, f"{channel}_api_key_header"),
            api_keys=keys,
            basic_username=getattr(settings, f"{channel}_basic_username"),
            basic_password=settings.secret(f"{channel}_basic_password"),
            allowed_networks=tuple(
                ipaddress.ip_network(network, strict=False)
                for network in getattr(settings, f"{channel}_allowed_networks")
            ),
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
        else:
            username, password = _basic_credentials(request.headers.get("Authorization", ""))
            expected_user, expected_password = self.basic_username or "", self.basic_password or ""
            user_ok = hmac.compare_digest(username.encode(), expected_user.encode())
            password_ok = hmac.compare_digest(password.encode(), expected_password.encode())
            if not (expected_user and expected_password and user_ok and password_ok):
                raise Unauthorized("Missing or invalid HTTP Basic credentials.")

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
