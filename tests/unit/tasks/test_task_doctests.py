"""Run the doctests of the task modules and of consortium_core.partition."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "consortium_core.partition",
    "consortium_tasks.client_settings",
    "consortium_tasks.data",
    "consortium_tasks.datasets",
    "consortium_tasks.early_stopping",
    "consortium_tasks.homomorphic.identities",
    "consortium_tasks.homomorphic.protocol",
    "consortium_tasks.local_training",
    "consortium_tasks.membership",
    "consortium_tasks.models",
    "consortium_tasks.registry",
    "consortium_tasks.server_settings",
    "consortium_tasks.training",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
