"""A vertical job with every party in this process (tests, the demo's baselines, quick trials).

>>> from consortium_tasks.fraud_vertical.simulation import simulate_vertical
>>> grid = simulate_vertical(
...     [{"party": "bank", "customers": 2000}, {"party": "shop", "customers": 2000}],
...     {"num-server-rounds": 1},
... )
>>> int(grid.round_metrics[0]["parties"])
2
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flwr.app import Context, RecordDict
from flwr.common.constant import SUPERLINK_NODE_ID

from ..simulation import InProcessGrid, act_as_server
from .client_app import app as client_app
from .server_app import app as server_app

__all__ = ["simulate_vertical"]


def simulate_vertical(
    node_configs: Sequence[Mapping[str, Any]],
    run_config: Mapping[str, Any],
    *,
    on_message: Callable[[bytes], None] | None = None,
) -> InProcessGrid:
    """Run task ``fraud-vertical`` with one in-process node per node config; return the Grid
    (``round_metrics`` per epoch, ``message_bytes`` of everything that crossed);
    ``on_message`` sees every message and reply as serialized for the wire."""
    grid = InProcessGrid(client_app, node_configs, run_config, on_wire=on_message)
    act_as_server(run_id=grid.run.run_id)
    context = Context(
        run_id=grid.run.run_id,
        node_id=SUPERLINK_NODE_ID,
        node_config={},
        state=RecordDict(),
        run_config=dict(run_config),
    )
    server_app(grid, context)
    return grid
