"""Tests of the built-in ClientApps, driven by real Flower messages through an in-process Grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from consortium_tasks.errors import DatasetError
from consortium_tasks.models import build_seeded
from consortium_tasks.registry import TASKS, load_app
from flwr.app import ArrayRecord
from flwr.clientapp import ClientApp
from PIL import Image

NODE = {"partition-id": 1, "num-partitions": 3, "partition": "dirichlet(0.5)", "seed": 7}


def global_arrays(task: str) -> ArrayRecord:
    factory: Any = load_app(TASKS[task].model or "")
    return ArrayRecord(build_seeded(factory, 0).state_dict())


HORIZONTAL = sorted(name for name, spec in TASKS.items() if spec.kind == "horizontal")


def client_app(task: str) -> ClientApp:
    app = load_app(TASKS[task].client_app)
    assert isinstance(app, ClientApp)
    return app


@pytest.mark.parametrize("task", HORIZONTAL)
def test_train_reply_has_the_same_arrays_trained_and_finite(task: str, send: Any) -> None:
    sent = global_arrays(task)
    reply = send(
        client_app(task),
        message_type="train",
        arrays=sent,
        node_config=NODE,
        run_config={"local-epochs": 1},
        config={"server-round": 1},
    )
    assert not reply.has_error()
    received = reply.content["arrays"]
    assert list(received) == list(sent)
    for key in sent:
        before, after = sent[key].numpy(), received[key].numpy()
        assert after.shape == before.shape and after.dtype == before.dtype
        assert np.isfinite(after).all()
    assert any(not np.array_equal(sent[k].numpy(), received[k].numpy()) for k in sent)
    metrics = reply.content["metrics"]
    assert metrics["num-examples"] > 0 and np.isfinite(metrics["train_loss"])


@pytest.mark.parametrize("task", HORIZONTAL)
def test_evaluate_reply_scores_the_model(task: str, send: Any) -> None:
    reply = send(
        client_app(task), message_type="evaluate", arrays=global_arrays(task), node_config=NODE
    )
    metrics = reply.content["metrics"]
    assert 0.0 <= metrics["eval_acc"] <= 1.0
    assert metrics["eval_loss"] > 0 and metrics["num-examples"] > 0


def test_hyperparameters_from_the_message_win(send: Any) -> None:
    def train(config: dict[str, Any]) -> float:
        reply = send(
            client_app("digits-cnn"),
            message_type="train",
            arrays=global_arrays("digits-cnn"),
            node_config=NODE,
            run_config={"learning-rate": 0.1},
            config={"server-round": 1, **config},
        )
        return float(reply.content["metrics"]["train_loss"])

    assert train({"learning-rate": 0.0}) != train({})


def test_fedprox_term_keeps_weights_near_the_global_model(send: Any) -> None:
    sent = global_arrays("digits-cnn")

    def distance(proximal_mu: float) -> float:
        reply = send(
            client_app("digits-cnn"),
            message_type="train",
            arrays=sent,
            node_config=NODE,
            config={"server-round": 1, "proximal-mu": proximal_mu},
        )
        after = reply.content["arrays"]
        return sum(float(np.sum((after[k].numpy() - sent[k].numpy()) ** 2)) for k in sent)

    assert distance(5.0) < distance(0.0)


def test_client_trains_on_its_own_image_folder(tmp_path: Path, send: Any) -> None:
    for digit in (0, 1):
        folder = tmp_path / str(digit)
        folder.mkdir()
        for index in range(3):
            Image.new("L", (16, 16), 80 * index + 40 * digit).save(folder / f"{index}.png")
    reply = send(
        client_app("digits-cnn"),
        message_type="train",
        arrays=global_arrays("digits-cnn"),
        node_config={"data-path": str(tmp_path)},
        config={"server-round": 1},
    )
    assert reply.content["metrics"]["num-examples"] == 6


def test_node_config_without_data_is_refused(send: Any) -> None:
    with pytest.raises(DatasetError, match="'partition-id' and 'num-partitions'"):
        send(
            client_app("digits-cnn"),
            message_type="train",
            arrays=global_arrays("digits-cnn"),
            node_config={"seed": 1},
        )
