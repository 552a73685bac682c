"""Render a nats-server configuration: TLS that verifies client certificates, JetStream, and one
user per active participant, mapped from its certificate subject (``verify_and_map``).

A participant may publish only under ``consortium.v1.participant.<id>.out.>`` and subscribe
only to ``consortium.v1.participant.<id>.in``. Services (certificate ``CN=service:<name>``) have
no restriction. A certificate whose subject maps to no user is refused, which is how revocation
reaches NATS.

>>> text = render_nats_config(NatsServerConfig(port=4222, store_dir="/s", server_cert="s.crt",
...     server_key="s.key", ca_cert="ca.crt"), participants=["h1"], services=["coordinator"])
>>> '"CN=h1"' in text and '"consortium.v1.participant.h1.in"' in text
True
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from consortium_core import subjects

__all__ = ["NatsServerConfig", "participant_permissions", "render_nats_config", "user_for"]


@dataclass(frozen=True)
class NatsServerConfig:
    """Where the server listens and which files hold its TLS material."""

    port: int
    store_dir: str
    server_cert: str
    server_key: str
    ca_cert: str
    host: str = "127.0.0.1"
    max_payload: int = 1024 * 1024
    tls_timeout_s: float = 5.0


def user_for(common_name: str) -> str:
    """The NATS user a certificate with subject ``CN=<common_name>`` maps to."""
    return f"CN={common_name}"


def participant_permissions(participant_id: str) -> dict[str, dict[str, list[str]]]:
    """Publish and subscribe rights of one participant: its own subjects only."""
    inbox = subjects.inbox(participant_id)
    outbox = inbox.removesuffix(".in") + ".out.>"
    return {"publish": {"allow": [outbox]}, "subscribe": {"allow": [inbox]}}


def render_nats_config(
    server: NatsServerConfig, *, participants: Iterable[str], services: Iterable[str]
) -> str:
    """The whole configuration file (NATS's format accepts JSON values)."""
    users = [
        {"user": user_for(pid), "permissions": participant_permissions(pid)}
        for pid in sorted(set(participants))
    ]
    users += [{"user": user_for(f"service:{name}")} for name in sorted(set(services))]
    lines = [
        "# Written by the Consortium registry; changes are overwritten on the next reload.",
        f"listen: {json.dumps(f'{server.host}:{server.port}')}",
        f"max_payload: {server.max_payload}",
        f"jetstream {{ store_dir: {json.dumps(server.store_dir)} }}",
        "tls {",
        f"  cert_file: {json.dumps(server.server_cert)}",
        f"  key_file: {json.dumps(server.server_key)}",
        f"  ca_file: {json.dumps(server.ca_cert)}",
        "  verify_and_map: true",
        f"  timeout: {server.tls_timeout_s}",
        "}",
        f"authorization {{ users: {json.dumps(users, indent=2)} }}",
    ]
    return "\n".join(lines) + "\n"
