"""What the gateway talks to, opened and closed with the application."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nats.aio.client import Client as NatsClient

from .auth import OperatorAuth
from .job_reads import JobReads
from .read_model import SqlReadModel
from .upstream import Upstream

__all__ = ["Services"]

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The coordinator, registry and contribution service, operator auth, job reads and
    (optionally) NATS. Readiness leaves the contribution service out: without it only
    contributions are unavailable (a 503 naming it)."""

    coordinator: Upstream
    registry: Upstream
    auth: OperatorAuth
    jobs: JobReads
    contribution: Upstream
    nats: NatsClient | None = None
    read_model: SqlReadModel | None = None

    async def readiness(self) -> dict[str, bool]:
        """Which dependencies answer now."""
        return {
            "coordinator": await self.coordinator.healthy(),
            "registry": await self.registry.healthy(),
            "nats": self.nats is not None and self.nats.is_connected,
        }

    async def close(self) -> None:
        await self.coordinator.close()
        await self.registry.close()
        await self.contribution.close()
        if self.nats is not None:
            await self.nats.drain()
        if self.read_model is not None:
            await self.read_model.close()
