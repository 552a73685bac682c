"""A built-in ServerApp told to resume (the coordinator restarted) goes on from the given round
and model, numbering rounds as the job does, with plain FedAvg and under SecAgg+."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import pytest
from consortium_core.resume import set_resume_point
from consortium_tasks.registry import get_task, load_app
from consortium_tasks.simulation import InProcessGrid, act_as_server
from flwr.app import ArrayRecord, Context, MessageType, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import ServerApp

TASK = "breast-cancer-logreg"
BASE = {"min-participants": 2, "membership-audit": False}
SECURE = {"secure-aggregation": True, "secagg-reconstruction-threshold": 2}
MODES = pytest.mark.parametrize("mode", [{}, SECURE], ids=["fedavg", "secagg+"])


class _KeepsModels(InProcessGrid):
    """Also keeps the global model of every round."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.models: dict[int, ArrayRecord] = {}

    def on_round_end(
        self, server_round: int, arrays: ArrayRecord, metrics: Mapping[str, float]
    ) -> None:
        super().on_round_end(server_round, arrays, metrics)
        self.models[server_round] = arrays


def _run(rounds: int, state: RecordDict, mode: Mapping[str, object]) -> _KeepsModels:
    spec = get_task(TASK)
    config = {**BASE, **mode, "num-server-rounds": rounds}
    nodes = [{"partition-id": i, "num-partitions": 2, "seed": 3} for i in range(2)]
    grid = _KeepsModels(cast(ClientApp, load_app(spec.client_app)), nodes, config)
    act_as_server(run_id=grid.run.run_id)
    context = Context(
        run_id=grid.run.run_id, node_id=0, node_config={}, state=state, run_config=config
    )
    cast(ServerApp, load_app(spec.server_app))(grid, context)
    return grid


@MODES
def test_a_resumed_server_app_runs_only_the_rounds_left_with_the_jobs_numbers(mode) -> None:
    first = _run(2, RecordDict(), mode)  # the rounds done before the coordinator died
    state = RecordDict()
    set_resume_point(state, 2, first.models[2])
    resumed = _run(4, state, mode)
    assert sorted(resumed.round_metrics) == [3, 4]  # round 2 is stored already: not again
    trained = [m for m in resumed.message_bytes if m.message_type == MessageType.TRAIN]
    rounds = {m.server_round for m in trained}  # SecAgg+'s key stages carry no round (0)
    assert rounds - {0} == {3, 4} and (mode or 0 not in rounds)  # participants see 3 and 4
    assert resumed.round_metrics[4]["accuracy"] >= first.round_metrics[2]["accuracy"] - 0.02
    assert resumed.round_metrics[4]["accuracy"] > 0.85


@MODES
def test_a_job_resumed_after_its_last_round_only_finishes(mode) -> None:
    first = _run(2, RecordDict(), mode)
    state = RecordDict()
    set_resume_point(state, 2, first.models[2])
    resumed = _run(2, state, mode)
    assert resumed.round_metrics == {}
    assert not [m for m in resumed.message_bytes if m.message_type == MessageType.TRAIN]
