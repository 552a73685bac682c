"""The CLI's typed errors; :func:`consortium_cli.main.main` prints each as one line and exits
with its ``exit_code`` (1 for a refused request, 2 for bad usage, 3 for an unreachable gateway).

>>> str(GatewayProblem(403, "Forbidden", "viewers may not create jobs"))
'Forbidden: viewers may not create jobs'
>>> GatewayUnreachable("https://127.0.0.1:1", "connection refused").exit_code
3
"""

from __future__ import annotations

__all__ = [
    "ChecksumMismatch",
    "CliError",
    "GatewayProblem",
    "GatewayUnreachable",
    "NotLoggedIn",
    "SessionExpired",
    "UnexpectedResponse",
    "UsageError",
]

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


class CliError(Exception):
    """Base of every error the CLI raises on purpose; its text is what the user reads."""

    exit_code = EXIT_FAILURE


class UsageError(CliError):
    """The command line itself is wrong: a malformed option, a missing file, a bad URL."""

    exit_code = EXIT_USAGE


class NotLoggedIn(CliError):
    """No stored session and no ``CONSORTIUM_TOKEN``: there is nobody to act as."""


class SessionExpired(CliError):
    """The stored token is past its expiry, or the gateway no longer accepts it."""


class GatewayUnreachable(CliError):
    """The gateway did not answer: down, wrong address, a TLS failure, or a timeout."""

    exit_code = EXIT_UNREACHABLE

    def __init__(self, gateway_url: str, reason: str, *, hint: str | None = None) -> None:
        self.gateway_url = gateway_url
        self.reason = reason
        self.hint = hint or (
            "is the platform up? Run `make up`, or check --gateway / CONSORTIUM_GATEWAY_URL"
        )
        super().__init__(f"cannot reach the gateway at {gateway_url} ({reason}); {self.hint}")


class GatewayProblem(CliError):
    """The gateway refused the request with a problem (``application/problem+json``)."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        super().__init__(f"{title}: {detail}" if detail else title)


class UnexpectedResponse(CliError):
    """The gateway answered with something this CLI cannot read (not the documented JSON)."""


class ChecksumMismatch(CliError):
    """A downloaded file's SHA-256 is not the one the gateway announced."""
