"""A Flower app whose ServerApp raises at once: exercises the harness's failure reporting."""

from __future__ import annotations

from consortium_bench.apps import tiny
from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

client_app = tiny.client_app
server_app = ServerApp()


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    """Fail before the first round."""
    raise RuntimeError("deliberate ServerApp failure (consortium bench test)")
