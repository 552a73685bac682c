"""Probe of a participant's runtime (the hospital chart's liveness and readiness checks).

``live``: the enrolled identity in the home is usable (key, certificate signed by the CA, not
expired); the runtime can (re)connect with it. An expired certificate that renewal could not
replace needs a person (enroll again), and shows as a failing pod instead of a silent one.
``ready``: also, the pod holds an established TCP connection to the NATS port: the runtime is
connected and can receive work. The runtime itself has no health endpoint; its connection is
what the pod's network namespace shows in /proc/net/tcp and /proc/net/tcp6.

Usage: ``python probe.py live|ready HOME NATS_URL``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

ESTABLISHED = "01"


def connected_to(port: int) -> bool:
    """True when a socket of this network namespace is connected to ``port`` somewhere."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == ESTABLISHED and int(remote.rsplit(":", 1)[1], 16) == port:
                return True
    return False


def main() -> int:
    """Exit 0 when the check passes, 1 with the reason otherwise."""
    mode, home, nats_url = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    from consortium_client.identity import IdentityError, load_identity

    try:
        load_identity(home)
    except IdentityError as exc:
        print(f"identity not usable: {exc}")
        return 1
    if mode == "ready":
        port = urlsplit(nats_url).port or 4222
        if not connected_to(port):
            print(f"not connected to NATS (no established connection to port {port})")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
