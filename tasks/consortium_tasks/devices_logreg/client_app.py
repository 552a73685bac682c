"""ClientApp of task ``devices-logreg`` (see :mod:`consortium_tasks.app_factory`)."""

from __future__ import annotations

from consortium_tasks.app_factory import make_client_app
from consortium_tasks.devices_logreg.task import TASK, build_model, load_data

__all__ = ["app"]

app = make_client_app(TASK, build_model, load_data)
