"""Write the NATS configuration for the active participants and make the server reload it.

On reload nats-server re-checks every open connection: a participant that is no longer in the
configuration (revoked) is disconnected at once and refused when it reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Iterable
from pathlib import Path

from consortium_core.services import SERVICES

from .config import NatsServerConfig, render_nats_config

__all__ = ["NatsAuthorizationFile", "write_atomically"]

log = logging.getLogger(__name__)


def write_atomically(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``text`` so that a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


class NatsAuthorizationFile:
    """An ``AuthorizationSink``: renders the config file and signals the server's PID."""

    def __init__(
        self,
        *,
        server: NatsServerConfig,
        config_path: Path,
        pid_file: Path | None,
        services: Iterable[str] = SERVICES,
    ) -> None:
        self.server = server
        self.config_path = config_path
        self.pid_file = pid_file
        self.services = tuple(services)

    def write(self, active_participants: Iterable[str]) -> None:
        """Write the configuration file for these participants (no reload)."""
        text = render_nats_config(
            self.server, participants=active_participants, services=self.services
        )
        write_atomically(self.config_path, text)

    def reload(self) -> bool:
        """Ask the running server to reload; False if no server PID is known."""
        if self.pid_file is None or not self.pid_file.exists():
            log.warning(
                "NATS pid file %s missing: configuration written, not reloaded", self.pid_file
            )
            return False
        pid = int(self.pid_file.read_text().strip())
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            log.warning("NATS server pid %d is not running: configuration not reloaded", pid)
            return False
        return True

    async def apply(self, active_participants: list[str]) -> None:
        """Write and reload (the AuthorizationSink protocol of the registry)."""
        await asyncio.to_thread(self.write, active_participants)
        if await asyncio.to_thread(self.reload):
            log.info(
                "NATS authorization reloaded: %d active participant(s)", len(active_participants)
            )
