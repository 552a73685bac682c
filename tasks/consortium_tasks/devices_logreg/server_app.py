"""ServerApp of task ``devices-logreg`` (see :mod:`consortium_tasks.app_factory`).

The same ServerApp runs on the NATS runtime, on Flower's simulation and on the virtual Grid
(:mod:`consortium_tasks.virtual`).
"""

from __future__ import annotations

from consortium_tasks.app_factory import make_server_app
from consortium_tasks.devices_logreg.task import TASK, build_model

__all__ = ["app"]

app = make_server_app(TASK, build_model)
