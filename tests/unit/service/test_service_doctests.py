"""Run the doctests of the services' shared kit, the metrics service and the gateway."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "consortium_service.http_metrics",
    "consortium_service.events_stream",
    "consortium_service.problems",
    "consortium_gateway.auth",
    "consortium_gateway.final_cache",
    "consortium_bench.loadgen",
    "consortium_metrics.batches",
    "consortium_metrics.consumer",
    "consortium_metrics.db.writer",
    "consortium_metrics.decoding",
    "consortium_metrics.observability",
    "consortium_metrics.projections",
    "consortium_metrics.schemas",
    "consortium_metrics.settings",
    "consortium_contribution.settings",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
