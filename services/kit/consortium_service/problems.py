"""RFC 9457 ``application/problem+json`` responses, shared by every service.

A service maps its own typed errors to statuses; what a problem looks like, how request
validation errors and unknown routes read, and how OpenAPI documents them is the same
everywhere.

>>> problem(404, "Not Found", "no job abc").status_code
404
>>> sorted(problems(401, 404))
[401, 404]
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["Problem", "install_standard_handlers", "problem", "problems"]

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None


def problems(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` entries for the problem statuses a route can answer with."""
    return {status: {"model": Problem, "content": {PROBLEM_JSON: {}}} for status in statuses}


def problem(status: int, title: str, detail: str, **extra: object) -> JSONResponse:
    """A problem+json response (401 also says which scheme to use)."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_standard_handlers(app: FastAPI) -> None:
    """Invalid requests (422) and HTTP errors such as unknown routes (404, 405) as problems."""

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{"loc": list(e.get("loc", [])), "msg": e.get("msg", "")} for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return problem(422, "Invalid request", detail, instance=request.url.path, errors=errors)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        title = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, "Error")
        response = problem(exc.status_code, title, str(exc.detail), instance=request.url.path)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
