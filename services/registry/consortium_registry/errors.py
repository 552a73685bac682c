"""Typed errors of the registry; ``api/problems.py`` maps each to an HTTP problem response."""

from __future__ import annotations

from consortium_core.errors import ConsortiumError

__all__ = [
    "AlreadyExistsError",
    "AuthenticationError",
    "CertificateRefusedError",
    "EnrollmentTokenGoneError",
    "EnrollmentTokenUnknownError",
    "InvalidCSRError",
    "InvalidParticipantIdError",
    "NotFoundError",
    "PermissionDeniedError",
    "RegistryError",
    "StateConflictError",
]


class RegistryError(ConsortiumError):
    """Base class of the registry's errors."""


class InvalidCSRError(RegistryError, ValueError):
    """A certificate signing request that is malformed, badly signed or has a refused key type."""


class InvalidParticipantIdError(RegistryError, ValueError):
    """A participant id that cannot be a NATS subject token (see ``consortium_core.subjects``)."""


class NotFoundError(RegistryError, LookupError):
    """No participant, operator or certificate has this id."""


class AlreadyExistsError(RegistryError):
    """A participant or operator with this id exists already."""


class StateConflictError(RegistryError):
    """The record is not in a state that allows the request (for example already revoked)."""


class AuthenticationError(RegistryError):
    """Missing or wrong credentials: bad password, bad or expired bearer token, no certificate."""


class PermissionDeniedError(RegistryError):
    """Authenticated, but not allowed: a role too weak, or a revoked participant."""


class CertificateRefusedError(PermissionDeniedError):
    """A client certificate that is unknown, revoked, expired or not issued by our CA."""


class EnrollmentTokenUnknownError(AuthenticationError):
    """No enrollment token matches what was sent."""


class EnrollmentTokenGoneError(RegistryError):
    """The enrollment token was valid once but is used or expired: ask an operator for another."""
