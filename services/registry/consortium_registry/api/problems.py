"""Typed errors -> RFC 9457 ``application/problem+json`` responses, in one place."""

from __future__ import annotations

from consortium_core.errors import ConsortiumError, UnknownNameError
from consortium_service.problems import Problem, install_standard_handlers, problem, problems
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ..errors import (
    AlreadyExistsError,
    AuthenticationError,
    EnrollmentTokenGoneError,
    InvalidCSRError,
    InvalidParticipantIdError,
    NotFoundError,
    PermissionDeniedError,
    StateConflictError,
)

__all__ = ["Problem", "install_problem_handlers", "problem", "problems"]

# first match wins: subclasses before their bases
_STATUS: list[tuple[type[Exception], int, str]] = [
    (AuthenticationError, 401, "Unauthorized"),
    (PermissionDeniedError, 403, "Forbidden"),
    (NotFoundError, 404, "Not Found"),
    (AlreadyExistsError, 409, "Conflict"),
    (StateConflictError, 409, "Conflict"),
    (EnrollmentTokenGoneError, 410, "Gone"),
    (InvalidCSRError, 422, "Invalid certificate signing request"),
    (InvalidParticipantIdError, 422, "Invalid participant id"),
    (UnknownNameError, 422, "Unknown name"),
    (ConsortiumError, 400, "Bad Request"),
]


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers that turn typed errors into problem responses."""

    async def on_consortium_error(request: Request, exc: Exception) -> JSONResponse:
        for cls, status, title in _STATUS:
            if isinstance(exc, cls):
                extra = {"known": exc.known} if isinstance(exc, UnknownNameError) else {}
                return problem(status, title, str(exc), instance=request.url.path, **extra)
        return problem(500, "Internal Server Error", "unexpected error")

    app.add_exception_handler(ConsortiumError, on_consortium_error)
    install_standard_handlers(app)
