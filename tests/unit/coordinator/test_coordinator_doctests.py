"""Run the doctests of the coordinator's pure modules."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "consortium_coordinator.observability",
    "consortium_coordinator.runtime.grid",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
