"""Telling the message broker who may connect: the ``AuthorizationSink`` hook.

After every enrollment and revocation (and once at start-up) the registry computes the ids of
participants that are active and hold an unexpired, unrevoked certificate, and hands the whole
list to a sink. A sink makes the broker agree (for NATS: rewrite the authorization block and
reload the server). Sinks are registered by name or given as ``pkg.module:factory``; a factory
takes the :class:`RegistrySettings`. Applies are serialized, each with the latest list, so a
slow apply can never overwrite a newer one.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from consortium_core.errors import UnknownNameError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .participants import active_participant_ids
from .settings import RegistrySettings

__all__ = [
    "SINKS",
    "AuthorizationSink",
    "AuthorizationSync",
    "LoggingAuthorizationSink",
    "load_sink",
]

log = logging.getLogger(__name__)


@runtime_checkable
class AuthorizationSink(Protocol):
    """Receives the complete list of participants that may connect, after every change."""

    async def apply(self, active_participants: list[str]) -> None:
        """Make the broker allow exactly ``active_participants`` (sorted ids); raise on failure."""
        ...


class LoggingAuthorizationSink:
    """The default sink: logs the list and changes nothing (no broker authorization)."""

    async def apply(self, active_participants: list[str]) -> None:
        log.info(
            "authorization: %d active participant(s): %s",
            len(active_participants),
            ", ".join(active_participants) or "(none)",
        )


SINKS: dict[str, Callable[[RegistrySettings], AuthorizationSink]] = {
    "log": lambda _settings: LoggingAuthorizationSink(),
    "nats": lambda settings: _nats_sink(settings),
}


def _nats_sink(settings: RegistrySettings) -> AuthorizationSink:
    from .natsauth.factory import nats_sink

    return nats_sink(settings)


def load_sink(settings: RegistrySettings) -> AuthorizationSink:
    """The sink named by ``settings.authorization_sink``: a key of :data:`SINKS` or an import."""
    name = settings.authorization_sink
    if name in SINKS:
        return SINKS[name](settings)
    module_name, _, attr = name.partition(":")
    if not attr:
        raise UnknownNameError("authorization sink", name, [*SINKS, "pkg.module:factory"])
    factory = getattr(importlib.import_module(module_name), attr)
    sink = factory(settings)
    if not isinstance(sink, AuthorizationSink):
        raise TypeError(f"{name} did not return an AuthorizationSink (needs async apply())")
    return sink


class AuthorizationSync:
    """Recomputes the active list and applies it to the sink, one apply at a time."""

    def __init__(self, sink: AuthorizationSink, sessions: async_sessionmaker[AsyncSession]):
        self.sink = sink
        self._sessions = sessions
        self._lock = asyncio.Lock()

    async def sync(self) -> str | None:
        """Apply the current list; return ``None`` on success, else the error's text (logged)."""
        async with self._lock:
            async with self._sessions() as session:
                active = await active_participant_ids(session)
            try:
                await self.sink.apply(active)
            except Exception as exc:  # a broken broker must not undo a committed revocation
                log.exception("authorization sink failed to apply %d participant(s)", len(active))
                return f"{type(exc).__name__}: {exc}"
            return None
