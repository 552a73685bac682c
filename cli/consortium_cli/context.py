"""What every command receives: its output, the environment, the stored session, and a client."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .client import GatewayClient
from .config import Connection, Environment, resolve_connection
from .output import Output
from .session import Session, load_session

__all__ = ["Context"]


@dataclass
class Context:
    """A command's view of the world; nothing here touches the network until :meth:`client`."""

    out: Output
    env: Environment

    @property
    def session_file(self) -> Path:
        return self.env.session_file

    def session(self) -> Session | None:
        return load_session(self.session_file)

    def connection(self, *, need_token: bool = True) -> Connection:
        """Where to connect and with which token (environment over the stored session)."""
        return resolve_connection(self.env, self.session(), need_token=need_token)

    def client(self) -> GatewayClient:
        """A client logged in as the current operator, or :class:`NotLoggedIn`."""
        connection = self.connection()
        return GatewayClient(
            connection.gateway_url, ca_cert=connection.ca_cert, token=connection.token
        )
