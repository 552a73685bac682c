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


@pytest.mark.parametrize("task", ["digits-private", "digits-cnn", "breast-cancer-logreg"])
def test_fixed_features_are_computed_once_and_score_the_same(task: str) -> None:
    import torch
    from consortium_tasks.data import load_test_set
    from consortium_tasks.registry import get_task, load_app
    from consortium_tasks.training import evaluate_model

    evaluator = TaskEvaluator(task)
    model = load_app(get_task(task).model)()
    for parameter in model.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    arrays = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    x, y = load_test_set(task)
    with torch.no_grad():
        expected = evaluate_model(model, x, y).accuracy
    assert evaluator.accuracy(arrays) == pytest.approx(expected, abs=1e-9)
    # only the weight-free feature extractor of digits-private is cached
    assert evaluator.caches_features == (task == "digits-private")
