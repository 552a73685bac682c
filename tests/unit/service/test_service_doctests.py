"""Run the doctests of the services' shared kit."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["consortium_service.http_metrics"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
