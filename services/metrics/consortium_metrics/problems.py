"""Typed errors -> RFC 9457 ``application/problem+json`` responses, in one place."""

from __future__ import annotations

from consortium_core.errors import ConsortiumError, UnknownNameError
from consortium_service.problems import install_standard_handlers, problem
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .errors import InvalidQueryError, NotReadyError

__all__ = ["install_problem_handlers"]

# first match wins: subclasses before their bases
_STATUS: list[tuple[type[Exception], int, str]] = [
    (NotReadyError, 503, "Service Unavailable"),
    (UnknownNameError, 422, "Unknown name"),
    (InvalidQueryError, 422, "Invalid query"),
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
