"""ServerApp of task ``digits-private`` (see :mod:`consortium_tasks.app_factory`).

It runs unchanged on Flower's runtime and on Consortium's; the only Consortium hook is
:func:`consortium_core.rounds.notify_round_end`, a no-op on other Grids.
"""

from __future__ import annotations

from consortium_tasks.app_factory import make_server_app
from consortium_tasks.digits_private.task import TASK, build_model

__all__ = ["app"]

app = make_server_app(TASK, build_model)
