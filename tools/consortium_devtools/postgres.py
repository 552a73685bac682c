"""A private PostgreSQL cluster (Debian's ``initdb`` and ``pg_ctl``) that a tool may stop, crash
and start again: ``make up`` falls back to one, the chaos soak and a test restart theirs.

Run as the ``postgres`` user when we are root (Postgres refuses to run as root), so its folder
must be reachable by that user: every parent folder needs the execute bit for others.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

from .infra import port_open, wait_for_port

__all__ = ["PostgresBinariesMissing", "PrivatePostgres"]


class PostgresBinariesMissing(RuntimeError):
    """Debian's postgresql package is not installed (no /usr/lib/postgresql/*/bin)."""


class PrivatePostgres:
    """A cluster in ``data`` listening on 127.0.0.1:``port`` (user postgres, trust auth)."""

    def __init__(self, data: Path, port: int) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            raise PostgresBinariesMissing(
                "Debian's postgresql binaries are not installed (apt-get install -y postgresql)"
            )
        self.bin = Path(bins[-1])
        self.data = data
        self.port = port
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        """``postgresql://`` URL of the server (no database)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def answering(self) -> bool:
        return port_open("127.0.0.1", self.port)

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.as_postgres, str(self.bin / tool), *args],
            check=check,
            capture_output=True,
            text=True,
        )

    def init(self) -> None:
        """Create the cluster unless it exists."""
        if (self.data / "PG_VERSION").exists():
            return
        self.data.mkdir(parents=True, exist_ok=True)
        if self.as_postgres:
            shutil.chown(self.data, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust")

    def start(self, timeout_s: float = 30) -> bool:
        """Start the server (creating the cluster first); True once it accepts connections."""
        self.init()
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -k {self.data}"
        logfile = str(self.data / "server.log")
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", logfile, "-o", options, "start", check=False
        )
        return wait_for_port("127.0.0.1", self.port, timeout_s)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``mode="immediate"`` is a crash: no checkpoint, recovery at start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)
