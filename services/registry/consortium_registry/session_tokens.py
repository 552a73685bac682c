"""Operators' bearer tokens: a JSON claim set signed with HMAC-SHA256, with an expiry.

Why our own ~40 lines instead of itsdangerous or Fernet: itsdangerous would be a dependency for
one function, and Fernet *encrypts* the claims, which we do not need (they are not secret: the
operator's name, role and expiry) while it makes tokens opaque to the console and twice as long.
An HMAC over base64url(JSON) is the JWT HS256 idea without JWT's algorithm negotiation, so there
is no ``alg: none`` to get wrong. The token is ``v1.<claims>.<signature>``.

>>> signer = SessionTokens(b"k" * 32, ttl_s=60)
>>> token = signer.issue("alice", "admin", now=1000.0)
>>> signer.verify(token, now=1030.0).username
'alice'
>>> signer.verify(token, now=1061.0)
Traceback (most recent call last):
...
consortium_registry.errors.AuthenticationError: the bearer token has expired: log in again
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from .errors import AuthenticationError

__all__ = ["SessionClaims", "SessionTokens"]

_VERSION = "v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class SessionClaims:
    """Who a verified token speaks for, and until when (Unix seconds)."""

    username: str
    role: str
    expires_at: float


class SessionTokens:
    """Issues and verifies operator tokens with one secret key."""

    def __init__(self, secret: bytes, *, ttl_s: int) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self._key = hashlib.sha256(b"consortium-registry-session|" + secret).digest()
        self.ttl_s = ttl_s

    def _sign(self, payload: str) -> str:
        mac = hmac.new(self._key, f"{_VERSION}.{payload}".encode("ascii"), hashlib.sha256)
        return _b64(mac.digest())

    def issue(self, username: str, role: str, *, now: float | None = None) -> str:
        """A token for ``username`` acting as ``role``, valid for ``ttl_s`` seconds."""
        issued = time.time() if now is None else now
        claims = {"sub": username, "role": role, "iat": int(issued), "exp": issued + self.ttl_s}
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{_VERSION}.{payload}.{self._sign(payload)}"

    def verify(self, token: str, *, now: float | None = None) -> SessionClaims:
        """The claims of a genuine, unexpired token, else :class:`AuthenticationError`."""
        version, _, rest = token.partition(".")
        payload, _, signature = rest.partition(".")
        if version != _VERSION or not payload or not signature:
            raise AuthenticationError("malformed bearer token")
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise AuthenticationError("the bearer token's signature is not valid")
        try:
            claims = json.loads(_unb64(payload))
            result = SessionClaims(str(claims["sub"]), str(claims["role"]), float(claims["exp"]))
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise AuthenticationError("malformed bearer token") from exc
        if (time.time() if now is None else now) >= result.expires_at:
            raise AuthenticationError("the bearer token has expired: log in again")
        return result
