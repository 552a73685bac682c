"""The gateway's typed errors; :mod:`.problems` maps each to an HTTP problem response."""

from __future__ import annotations

__all__ = [
    "AuthenticationRequired",
    "GatewayError",
    "NotFound",
    "PermissionDenied",
    "UpstreamError",
    "UpstreamUnavailable",
]


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    status = 500
    title = "Internal Server Error"


class AuthenticationRequired(GatewayError):
    """No bearer token, or one the registry does not accept."""

    status = 401
    title = "Unauthorized"


class PermissionDenied(GatewayError):
    """The operator's role does not allow this."""

    status = 403
    title = "Forbidden"


class NotFound(GatewayError):
    """No such job, participant or page."""

    status = 404
    title = "Not Found"


class UpstreamUnavailable(GatewayError):
    """A service behind the gateway does not answer (down, restarting, timed out)."""

    status = 503
    title = "Service Unavailable"


class UpstreamError(GatewayError):
    """A service behind the gateway failed on a request (it answered 5xx)."""

    status = 502
    title = "Bad Gateway"
