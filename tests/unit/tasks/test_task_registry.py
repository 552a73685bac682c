"""Tests of the task registry and of loading apps by import path."""

from __future__ import annotations

import pytest
from consortium_core.errors import ConsortiumError, UnknownNameError
from consortium_tasks.errors import AppImportError
from consortium_tasks.registry import TASKS, get_task, load_app
from flwr.clientapp import ClientApp
from flwr.serverapp import ServerApp


def test_builtin_tasks_are_registered() -> None:
    assert {"digits-cnn", "digits-private", "breast-cancer-logreg"} <= set(TASKS)
    assert get_task("digits-cnn").dataset == "sklearn-digits"


def test_unknown_task_lists_known_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown task 'mnist'.*digits-cnn"):
        get_task("mnist")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_builtin_task_has_loadable_apps_and_model(name: str) -> None:
    spec = TASKS[name]
    assert isinstance(load_app(spec.server_app), ServerApp)
    assert isinstance(load_app(spec.client_app), ClientApp)
    assert spec.model is not None and callable(load_app(spec.model))


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("consortium_tasks.registry", "must look like 'package.module:attribute'"),
        (":app", "must look like"),
        ("consortium_tasks.registry:", "must look like"),
        ("consortium_tasks.nowhere:app", "cannot import module 'consortium_tasks.nowhere'"),
        ("consortium_tasks.registry:nothing", "has no attribute 'nothing'"),
    ],
)
def test_bad_import_paths_get_clear_errors(path: str, message: str) -> None:
    with pytest.raises(AppImportError, match=message) as caught:
        load_app(path)
    assert isinstance(caught.value, ConsortiumError)


def test_dotted_attribute_paths_are_followed() -> None:
    assert load_app("consortium_tasks.registry:TASKS.get") == TASKS.get
