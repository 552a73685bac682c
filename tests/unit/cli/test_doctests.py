"""Run the doctests of the CLI's modules (examples in their docstrings)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "consortium_cli.client",
    "consortium_cli.commands.jobs",
    "consortium_cli.config",
    "consortium_cli.errors",
    "consortium_cli.output",
    "consortium_cli.session",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
