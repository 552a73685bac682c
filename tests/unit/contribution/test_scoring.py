"""Scoring a round from stored bytes: the checks that keep bad input out."""

from __future__ import annotations

import numpy as np
import pytest
from consortium_contribution.scoring import TaskEvaluator, read_model, score_round
from consortium_core.errors import ConsortiumError
from consortium_tasks.models import BreastCancerLogReg
from safetensors.numpy import save

TASK = "breast-cancer-logreg"


def _bytes(arrays: dict[str, np.ndarray], examples: int | None = None) -> bytes:
    metadata = {} if examples is None else {"num-examples": str(examples)}
    return save(arrays, metadata=metadata)


@pytest.fixture(scope="module")
def start() -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in BreastCancerLogReg().state_dict().items()}


@pytest.fixture(scope="module")
def evaluator() -> TaskEvaluator:
    return TaskEvaluator(TASK)


def test_a_round_of_copies_of_the_start_gained_nothing(start, evaluator) -> None:
    updates = {p: _bytes(start, 10) for p in ("a", "b", "c")}
    score = score_round(evaluator, _bytes(start), updates, method="exact")
    assert score.participants == ("a", "b", "c")
    assert score.values == {"a": 0.0, "b": 0.0, "c": 0.0}
    assert score.result.utility_all == score.result.utility_none == evaluator.accuracy(start)
    # GTG's between-round truncation: a round that gained nothing costs two models
    gtg = score_round(evaluator, _bytes(start), updates, method="gtg")
    assert gtg.result.truncated and gtg.result.evaluations == 2


def test_bad_input_is_refused_with_the_reason(start, evaluator) -> None:
    with pytest.raises(ConsortiumError, match="not a safetensors model"):
        read_model(b"\x00garbage")
    with pytest.raises(ConsortiumError, match="without updates"):
        score_round(evaluator, _bytes(start), {}, method="gtg")
    with pytest.raises(ConsortiumError, match="no sample count"):
        score_round(evaluator, _bytes(start), {"a": _bytes(start)}, method="gtg")
    other = {"weight": np.zeros((3, 3), dtype=np.float32)}
    with pytest.raises(ConsortiumError, match="other layers"):
        score_round(evaluator, _bytes(start), {"a": _bytes(other, 5)}, method="gtg")
    with pytest.raises(ConsortiumError, match="unknown task"):
        TaskEvaluator("apps.stock_flower_app:server_app")
