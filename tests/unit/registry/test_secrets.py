"""Operator credentials: scrypt password hashes and HMAC bearer tokens."""

from __future__ import annotations

import pytest
from consortium_registry.errors import AuthenticationError
from consortium_registry.passwords import hash_password, verify_password
from consortium_registry.session_tokens import SessionTokens


def test_password_hashes_are_salted_and_verify() -> None:
    one, two = hash_password("s3cret-pass", n=2**10), hash_password("s3cret-pass", n=2**10)
    assert one != two
    assert verify_password("s3cret-pass", one) and verify_password("s3cret-pass", two)
    assert not verify_password("s3cret-pasS", one)
    assert not verify_password("s3cret-pass", "bcrypt$whatever")
    assert not verify_password("s3cret-pass", "garbage")


def test_default_hash_uses_n_16384() -> None:
    assert hash_password("x").split("$")[1:4] == ["16384", "8", "1"]


def test_token_round_trip_and_expiry() -> None:
    tokens = SessionTokens(b"0" * 32, ttl_s=100)
    token = tokens.issue("alice", "viewer", now=1_000.0)
    claims = tokens.verify(token, now=1_099.0)
    assert (claims.username, claims.role, claims.expires_at) == ("alice", "viewer", 1_100.0)
    with pytest.raises(AuthenticationError, match="expired"):
        tokens.verify(token, now=1_100.0)


def test_tampered_or_foreign_tokens_are_refused() -> None:
    tokens = SessionTokens(b"0" * 32, ttl_s=100)
    token = tokens.issue("alice", "viewer", now=1_000.0)
    version, payload, signature = token.split(".")
    forged_payload = tokens.issue("alice", "admin", now=1_000.0).split(".")[1]
    for bad in (
        f"{version}.{forged_payload}.{signature}",  # role changed, old signature
        f"{version}.{payload}.{signature[:-2]}AA",
        f"v0.{payload}.{signature}",
        "not-a-token",
        "",
        SessionTokens(b"1" * 32, ttl_s=100).issue("alice", "viewer", now=1_000.0),
    ):
        with pytest.raises(AuthenticationError):
            tokens.verify(bad, now=1_001.0)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        SessionTokens(b"short", ttl_s=10)
