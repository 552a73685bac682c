"""FastAPI dependencies as ``Annotated`` aliases: sessions, operators, participants by cert."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from consortium_core.presence import Presence
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from ..authorization import AuthorizationSync
from ..ca import CertificateAuthority
from ..certificates import ClientIdentity, identify_client
from ..db.models import Operator, Role
from ..errors import AuthenticationError
from ..mtls import client_certificate_der
from ..operators import authenticate_bearer, require_role
from ..session_tokens import SessionTokens
from ..settings import RegistrySettings

__all__ = [
    "AdminOperator",
    "AnyOperator",
    "AuthorizationDep",
    "CADep",
    "CurrentParticipant",
    "SessionDep",
    "SettingsDep",
    "TokensDep",
]

_bearer = HTTPBearer(auto_error=False, description="a token from POST /api/v1/auth/login")


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


def _settings(request: Request) -> RegistrySettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _ca(request: Request) -> CertificateAuthority:
    return request.app.state.ca  # type: ignore[no-any-return]


def _tokens(request: Request) -> SessionTokens:
    return request.app.state.tokens  # type: ignore[no-any-return]


def _authorization(request: Request) -> AuthorizationSync:
    return request.app.state.authorization  # type: ignore[no-any-return]


def _presence(request: Request) -> Presence | None:
    recorder = getattr(request.app.state, "presence", None)
    return recorder.presence if recorder is not None else None


SessionDep = Annotated[AsyncSession, Depends(_session)]
PresenceDep = Annotated[Presence | None, Depends(_presence)]
SettingsDep = Annotated[RegistrySettings, Depends(_settings)]
CADep = Annotated[CertificateAuthority, Depends(_ca)]
TokensDep = Annotated[SessionTokens, Depends(_tokens)]
AuthorizationDep = Annotated[AuthorizationSync, Depends(_authorization)]


async def _any_operator(
    session: SessionDep,
    tokens: TokensDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Operator:
    return await authenticate_bearer(
        session, tokens, credentials.credentials if credentials else None
    )


async def _admin(operator: Annotated[Operator, Depends(_any_operator)]) -> Operator:
    return require_role(operator, Role.ADMIN)


async def _participant(request: Request, session: SessionDep, ca: CADep) -> ClientIdentity:
    der = client_certificate_der(request.scope)
    if der is None:
        raise AuthenticationError(
            "this needs the participant's current client certificate over mutual TLS"
        )
    return await identify_client(session, ca, der)


AnyOperator = Annotated[Operator, Depends(_any_operator)]
"""Any logged-in operator (viewer, job operator or admin): read access."""
AdminOperator = Annotated[Operator, Depends(_admin)]
"""An admin: participants, tokens, revocation, operators."""
CurrentParticipant = Annotated[ClientIdentity, Depends(_participant)]
"""The participant proven by its TLS client certificate (403 if unknown, revoked or expired)."""
