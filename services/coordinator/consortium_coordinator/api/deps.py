"""FastAPI dependencies as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from consortium_core.presence import Presence
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from ..runtime.checkpoints import CheckpointStore
from ..runtime.runner import JobRunner

__all__ = ["CheckpointsDep", "PresenceDep", "RunnerDep", "SessionDep"]


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


def _runner(request: Request) -> JobRunner:
    return request.app.state.runner  # type: ignore[no-any-return]


def _presence(request: Request) -> Presence:
    return request.app.state.presence  # type: ignore[no-any-return]


def _checkpoints(request: Request) -> CheckpointStore:
    return request.app.state.checkpoints  # type: ignore[no-any-return]


SessionDep = Annotated[AsyncSession, Depends(_session)]
RunnerDep = Annotated[JobRunner, Depends(_runner)]
PresenceDep = Annotated[Presence, Depends(_presence)]
CheckpointsDep = Annotated[CheckpointStore, Depends(_checkpoints)]
