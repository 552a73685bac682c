"""Typed errors of homomorphic-encryption aggregation."""

from __future__ import annotations

from consortium_core.errors import ConsortiumError

__all__ = [
    "CiphertextError",
    "HomomorphicConfigError",
    "KeyExchangeError",
    "SecretKeyRefused",
]


class HomomorphicConfigError(ConsortiumError, ValueError):
    """A job's ``he-ckks`` settings that cannot work; the text says what to change."""


class KeyExchangeError(ConsortiumError, ValueError):
    """A key-setup message that must not be trusted (a bad certificate or signature, a key
    sealed for someone else, a public context that is not the dealer's)."""


class SecretKeyRefused(KeyExchangeError):
    """A CKKS context carrying a secret key, offered where only public keys may go (the
    coordinator)."""


class CiphertextError(ConsortiumError, ValueError):
    """Encrypted model data that cannot be used: undecodable, of the wrong length, or under
    another key."""
