"""Typed errors -> RFC 9457 ``application/problem+json`` responses, in one place."""

from __future__ import annotations

from consortium_core.errors import ConsortiumError, UnknownNameError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

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


class Problem(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None


def problems(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` entries for the problem statuses a route can answer with."""
    return {
        status: {"model": Problem, "content": {"application/problem+json": {}}}
        for status in statuses
    }


def problem(status: int, title: str, detail: str, **extra: object) -> JSONResponse:
    """A problem+json response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers that turn typed errors into problem responses."""

    async def on_consortium_error(request: Request, exc: Exception) -> JSONResponse:
        for cls, status, title in _STATUS:
            if isinstance(exc, cls):
                extra = {"known": exc.known} if isinstance(exc, UnknownNameError) else {}
                return problem(status, title, str(exc), instance=request.url.path, **extra)
        return problem(500, "Internal Server Error", "unexpected error")

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{"loc": list(e.get("loc", [])), "msg": e.get("msg", "")} for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return problem(422, "Invalid request", detail, instance=request.url.path, errors=errors)

    app.add_exception_handler(ConsortiumError, on_consortium_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
