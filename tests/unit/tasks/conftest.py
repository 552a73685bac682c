"""Shared set-up of the task tests: one torch thread, quiet Flower logs, in-process messaging."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import torch
from consortium_tasks.simulation import FIRST_NODE_ID, InProcessGrid, act_as_server
from flwr.app import ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.logger import FLOWER_LOGGER


@pytest.fixture(autouse=True, scope="session")
def _one_thread_quiet_flower() -> Iterator[None]:
    threads, level = torch.get_num_threads(), FLOWER_LOGGER.level
    torch.set_num_threads(1)
    FLOWER_LOGGER.setLevel(logging.WARNING)
    yield
    torch.set_num_threads(threads)
    FLOWER_LOGGER.setLevel(level)


def send_to_client(
    client_app: ClientApp,
    *,
    message_type: str,
    arrays: ArrayRecord,
    node_config: Mapping[str, Any],
    run_config: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
) -> Message:
    """Send one message to ``client_app`` through an in-process Grid; return its reply."""
    grid = InProcessGrid(client_app, [node_config], run_config or {})
    act_as_server(run_id=grid.run.run_id)
    content = RecordDict({"arrays": arrays, "config": ConfigRecord(dict(config or {}))})
    message = Message(content, FIRST_NODE_ID, message_type)
    (reply,) = grid.send_and_receive([message])
    return reply


@pytest.fixture
def send() -> Any:
    """The :func:`send_to_client` helper, for tests that talk to a ClientApp."""
    return send_to_client
