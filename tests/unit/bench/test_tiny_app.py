"""Tests of the tiny benchmark app (in-process, direct calls) and of the Flower runtime harness.

The fast tests drive ``consortium_bench.apps.tiny``'s ServerApp against a minimal in-process
``Grid`` that hands each message straight to the ClientApp, as a runtime would. The test marked
``slow`` starts Flower's real SuperLink, SuperNodes and ``flwr run``.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from consortium_bench.apps.tiny import client_app, server_app
from consortium_bench.timing import read_round_times, round_durations, summarize
from flwr.app import Context, Message, RecordDict
from flwr.proto.node_pb2 import NodeInfo
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

SERVER_NODE_ID = 0
RUN_ID = 4242


class _DirectGrid(Grid):
    """A Grid that runs the ClientApp in-process, synchronously, when a message is pushed."""

    def __init__(self, num_nodes: int, run_config: dict[str, int | float | str | bool]) -> None:
        self._run = Run.create_empty(RUN_ID)
        self._contexts = {
            100 + i: Context(
                run_id=RUN_ID,
                node_id=100 + i,
                node_config={"partition-id": i, "num-partitions": num_nodes},
                state=RecordDict(),
                run_config=dict(run_config),
            )
            for i in range(num_nodes)
        }
        self._replies: dict[str, Message] = {}
        self.round_ends: list[int] = []

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self._contexts)

    def get_nodes(self) -> Iterable[NodeInfo]:
        return [NodeInfo(node_id=n) for n in self._contexts]

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for msg in messages:
            msg_id = uuid.uuid4().hex
            msg.metadata.__dict__["_message_id"] = msg_id
            reply = client_app(msg, self._contexts[msg.metadata.dst_node_id])
            assert reply.metadata.reply_to_message_id == msg_id
            self._replies[msg_id] = reply
            ids.append(msg_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(i) for i in list(message_ids) if i in self._replies]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))

    # consortium_core.rounds.RoundListener
    def on_round_end(self, server_round: int, arrays: object, metrics: object) -> None:
        self.round_ends.append(server_round)


@pytest.fixture
def task_identity() -> Iterator[None]:
    """Set the ServerApp process identity that ``Message(...)`` reads, and restore it."""
    saved = (TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id)
    TaskIdentity.task_id = 1
    TaskIdentity.run_id = RUN_ID
    TaskIdentity.node_id = SERVER_NODE_ID
    yield
    TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = saved


@pytest.mark.parametrize(("num_nodes", "num_rounds"), [(2, 3), (5, 2)])
def test_tiny_app_writes_one_timestamp_per_round(
    tmp_path: Path, task_identity: None, num_nodes: int, num_rounds: int
) -> None:
    timing_file = tmp_path / "timing.jsonl"
    run_config: dict[str, int | float | str | bool] = {
        "num-server-rounds": num_rounds,
        "num-nodes": num_nodes,
        "timing-file": str(timing_file),
        "seed": 7,
    }
    grid = _DirectGrid(num_nodes, run_config)
    context = Context(
        run_id=RUN_ID,
        node_id=SERVER_NODE_ID,
        node_config={},
        state=RecordDict(),
        run_config=run_config,
    )

    server_app(grid, context)

    lines = timing_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) == num_rounds + 1
    stamps = read_round_times(timing_file)
    durations = round_durations(stamps)
    assert len(durations) == num_rounds
    assert all(d >= 0 for d in durations)
    assert summarize(durations) >= 0
    # notify_round_end reached the grid once per completed round (not for round 0).
    assert grid.round_ends == list(range(1, num_rounds + 1))


def test_tiny_app_without_timing_file(task_identity: None) -> None:
    run_config: dict[str, int | float | str | bool] = {"num-server-rounds": 1, "num-nodes": 2}
    grid = _DirectGrid(2, run_config)
    context = Context(
        run_id=RUN_ID,
        node_id=SERVER_NODE_ID,
        node_config={},
        state=RecordDict(),
        run_config=run_config,
    )
    server_app(grid, context)
    assert grid.round_ends == [1]


def test_read_round_times_rejects_gaps(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"round": 0, "time": 1.0}\n{"round": 2, "time": 3.0}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="without gaps"):
        read_round_times(path)


@pytest.mark.slow
@pytest.mark.skipif(
    not Path(sys.executable).with_name("flower-superlink").exists(),
    reason="flower-superlink is not installed next to this interpreter",
)
def test_run_on_flower_two_nodes(tmp_path: Path) -> None:
    from consortium_bench.flower_runtime import run_on_flower

    durations = run_on_flower(
        server_app="consortium_bench.apps.tiny:server_app",
        client_app="consortium_bench.apps.tiny:client_app",
        num_nodes=2,
        num_rounds=2,
        run_config={"seed": 1},
        workdir=tmp_path,
        timeout_s=240,
    )
    assert len(durations) == 2
    assert all(d > 0 for d in durations)


@pytest.mark.slow
@pytest.mark.skipif(
    not Path(sys.executable).with_name("flower-superlink").exists(),
    reason="flower-superlink is not installed next to this interpreter",
)
def test_run_on_flower_reports_a_failed_serverapp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from consortium_bench.flower_runtime import FlowerRuntimeError, run_on_flower

    here = str(Path(__file__).parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [here, os.getenv("PYTHONPATH")])))
    with pytest.raises(FlowerRuntimeError, match="finished:failed") as info:
        run_on_flower(
            server_app="failing_app:server_app",
            client_app="failing_app:client_app",
            num_nodes=1,
            num_rounds=1,
            run_config={},
            workdir=tmp_path,
            timeout_s=120,
        )
    assert "deliberate ServerApp failure" in str(info.value)
