"""The gateway's typed errors as problem+json responses, in one place."""

from __future__ import annotations

from consortium_service.problems import install_standard_handlers, problem
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .errors import GatewayError

__all__ = ["install_problem_handlers"]


def install_problem_handlers(app: FastAPI) -> None:
    """Gateway errors, invalid requests and unknown routes become problem responses."""

    async def on_gateway_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GatewayError)
        return problem(exc.status, exc.title, str(exc), instance=request.url.path)

    app.add_exception_handler(GatewayError, on_gateway_error)
    install_standard_handlers(app)
