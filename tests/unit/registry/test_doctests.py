"""Run the doctests of the registry's pure modules and of consortium_core.audit."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "consortium_core.audit",
    "consortium_registry.ca",
    "consortium_registry.enrollment",
    "consortium_registry.observability",
    "consortium_registry.passwords",
    "consortium_registry.session_tokens",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
