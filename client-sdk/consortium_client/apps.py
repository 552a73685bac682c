"""Finding the ClientApps a participant allows: built-in tasks by name, others by import path."""

from __future__ import annotations

from collections.abc import Iterable

from consortium_core.errors import ConsortiumError
from consortium_tasks.registry import get_task, load_app
from flwr.clientapp import ClientApp

__all__ = ["AppNotAllowedError", "load_client_apps"]


class AppNotAllowedError(ConsortiumError):
    """An ``--app`` that is not a Flower ClientApp."""


def load_client_apps(*, tasks: Iterable[str], apps: Iterable[str]) -> dict[str, ClientApp]:
    """Map each allowed task identifier to its ClientApp.

    Built-in tasks are keyed by name (``digits-cnn``); ``--app`` ClientApps by their import path
    (``pkg.module:attr``), which is what a job names as its ``client_task``.
    """
    loaded: dict[str, ClientApp] = {}
    for name in tasks:
        app = load_app(get_task(name).client_app)
        assert isinstance(app, ClientApp)
        loaded[name] = app
    for path in apps:
        app = load_app(path)
        if not isinstance(app, ClientApp):
            raise AppNotAllowedError(f"{path} is a {type(app).__name__}, not a Flower ClientApp")
        loaded[path] = app
    return loaded
