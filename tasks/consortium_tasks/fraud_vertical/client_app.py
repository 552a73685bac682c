"""ClientApp of task ``fraud-vertical``: one party of a vertical job.

Every party answers private set intersection (as client or server, on its own IDs or on the
aligned ones) and prepares its rows and models. A feature party embeds batches of rows and
applies the gradients that come back; the label holder runs the top model, steps, and returns
one gradient per feature party. What leaves a party: blinded PSI points, set sizes, clipped and
noised embedding rows (feature parties), clipped and noised gradient rows, losses and AUCs (the
label holder). Raw feature values, labels and customer IDs never leave.
"""

from __future__ import annotations

import numpy as np
import torch
from consortium_core.contracts.node_config import JOB_ID as JOB_ID_KEY
from consortium_core.vertical import VerticalSettings, release_epsilon
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from torch import nn

from ..errors import TaskError
from . import protocol
from .data import party_table
from .models import EMBEDDING_SIZE, auc_of, clip_embedding, train_alone
from .party import PartyState, forget, state_of
from .psi import psi_finish, psi_request, psi_serve

__all__ = ["app"]

app = ClientApp()


def _state(context: Context) -> PartyState:
    return state_of(context.run_id, context.node_id)


def _reply(msg: Message, **records: ConfigRecord | ArrayRecord | MetricRecord) -> Message:
    return Message(RecordDict(dict(records)), reply_to=msg)


def _items(state: PartyState, which: str) -> list[str]:
    if which == protocol.OWN_SET:
        return list(state.table.ids)
    if which == protocol.ALIGNED_SET:
        return list(state.aligned)
    raise TaskError(f"unknown ID set {which!r}")


def _rows(msg: Message) -> np.ndarray:
    rows = msg.content["rows"]["rows"].numpy()
    if rows.dtype != np.int64 or rows.ndim != 1:
        raise TaskError("rows must be a 1-D int64 array")
    return rows


def _settings(context: Context) -> VerticalSettings:
    return VerticalSettings.from_run_config(context.run_config)


@app.query("vertical_describe")
def describe(msg: Message, context: Context) -> Message:
    """Say which party this is, whether it holds the labels, and how many IDs and columns."""
    table = party_table(context.node_config)
    state = state_of(context.run_id, context.node_id, table)
    info = {
        "party": table.party,
        "label-holder": table.is_label_holder,
        "ids": len(state.table.ids),
        "features": int(table.features.shape[1]),
    }
    return _reply(msg, info=ConfigRecord(info))


@app.query("psi_request")
def request(msg: Message, context: Context) -> Message:
    """PSI as the client: blind one of this party's ID sets; the key stays here."""
    state = _state(context)
    state.psi_items = _items(state, str(msg.content["psi"]["set"]))
    state.psi_key, blinded = psi_request(state.psi_items)
    return _reply(msg, psi=ConfigRecord({"request": blinded, "size": len(state.psi_items)}))


@app.query("psi_serve")
def serve(msg: Message, context: Context) -> Message:
    """PSI as the server: answer a client's blinded IDs with one of this party's sets."""
    state = _state(context)
    psi = msg.content["psi"]
    items = _items(state, str(psi["set"]))
    setup, response = psi_serve(items, bytes(psi["request"]), client_size=int(psi["size"]))
    return _reply(msg, psi=ConfigRecord({"setup": setup, "response": response}))


@app.query("psi_finish")
def finish_psi(msg: Message, context: Context) -> Message:
    """PSI as the client, last step: keep the IDs the other party also holds."""
    state = _state(context)
    if state.psi_key is None:
        raise TaskError("psi_finish came before psi_request")
    psi = msg.content["psi"]
    state.aligned = psi_finish(
        state.psi_key, state.psi_items, bytes(psi["setup"]), bytes(psi["response"])
    )
    state.psi_key, state.psi_items = None, []
    return _reply(msg, psi=ConfigRecord({"size": len(state.aligned)}))


@app.query("vertical_prepare")
def prepare(msg: Message, context: Context) -> Message:
    """Order and split the aligned rows; build this party's models."""
    state = _state(context)
    config = msg.content["config"]
    salt = str(context.node_config.get(JOB_ID_KEY, f"run-{context.run_id}"))
    state.prepare(_settings(context), salt=salt, feature_parties=int(config["feature-parties"]))
    assert state.train_x is not None and state.test_x is not None
    rows = {"train-rows": len(state.train_x), "test-rows": len(state.test_x)}
    return _reply(msg, info=ConfigRecord(rows))


def _apply_gradient(state: PartyState, gradient: np.ndarray) -> None:
    if state.pending is None or state.optimizer is None:
        raise TaskError("a gradient came with no batch in flight")
    if gradient.shape != tuple(state.pending.shape) or not np.isfinite(gradient).all():
        raise TaskError(
            f"gradient of shape {gradient.shape} for a batch of shape {tuple(state.pending.shape)}"
        )
    state.optimizer.zero_grad()
    # the label holder sends each row's own gradient; the batch's loss is their mean
    state.pending.backward(torch.from_numpy(gradient) / len(gradient))
    state.optimizer.step()
    state.pending = None


def _embed(state: PartyState, x: torch.Tensor, settings: VerticalSettings, *, train: bool):
    assert state.bottom is not None
    if train:
        clipped = clip_embedding(state.bottom(x), settings.embedding.clip_norm)
        state.pending = clipped
        released = clipped.detach().numpy()
    else:
        with torch.no_grad():
            released = clip_embedding(state.bottom(x), settings.embedding.clip_norm).numpy()
    return settings.embedding.add_noise(released, state.rng)


@app.train("forward")
def forward(msg: Message, context: Context) -> Message:
    """A feature party: apply the gradient of the last batch if one came, then embed the next."""
    state, settings = _state(context), _settings(context)
    if "gradient" in msg.content:
        _apply_gradient(state, msg.content["gradient"]["gradient"].numpy())
    rows = _rows(msg)
    assert state.train_x is not None and state.train_releases is not None
    embedding = _embed(state, state.train_x[rows], settings, train=True)
    state.train_releases[rows] += 1
    return _reply(msg, embedding=protocol.arrays(embedding=embedding))


@app.train("backward")
def backward(msg: Message, context: Context) -> Message:
    """A feature party: apply the gradient of the last batch of the epoch."""
    _apply_gradient(_state(context), msg.content["gradient"]["gradient"].numpy())
    return _reply(msg, metrics=MetricRecord({}))


@app.evaluate("forward")
def forward_test(msg: Message, context: Context) -> Message:
    """A feature party: embed test rows, and say what its embeddings have cost so far."""
    state, settings = _state(context), _settings(context)
    rows = _rows(msg)
    assert state.test_x is not None and state.test_releases is not None
    embedding = _embed(state, state.test_x[rows], settings, train=False)
    state.test_releases[rows] += 1
    assert state.train_releases is not None
    releases = int(max(state.train_releases.max(initial=0), state.test_releases.max(initial=0)))
    metrics = {"embedding_releases": releases}
    spent = release_epsilon(
        noise_multiplier=settings.embedding.noise_multiplier,
        releases=releases,
        delta=settings.delta,
    )
    if spent is not None:
        metrics["embedding_epsilon"] = spent
    return _reply(
        msg, embedding=protocol.arrays(embedding=embedding), metrics=MetricRecord(metrics)
    )


def _top_input(
    state: PartyState, x: torch.Tensor, msg: Message, settings: VerticalSettings
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    assert state.bottom is not None and state.top is not None
    received = []
    for index in range(state.feature_parties):
        key = protocol.embedding_key(index)
        if key not in msg.content:
            raise TaskError(f"the message lacks {key}")
        embedding = msg.content[key]["embedding"].numpy()
        if embedding.shape != (len(x), EMBEDDING_SIZE) or not np.isfinite(embedding).all():
            raise TaskError(f"{key}: expected {len(x)} finite rows of {EMBEDDING_SIZE}")
        received.append(torch.from_numpy(embedding).requires_grad_(True))
    own = clip_embedding(state.bottom(x), settings.embedding.clip_norm)
    return torch.cat([own, *received], dim=1), received


@app.train("step")
def step(msg: Message, context: Context) -> Message:
    """The label holder: one training step on a batch; a protected gradient per feature party."""
    state, settings = _state(context), _settings(context)
    if state.top is None or state.optimizer is None or state.train_y is None:
        raise TaskError("this party does not hold the labels")
    assert state.train_x is not None and state.train_releases is not None
    rows = _rows(msg)
    inputs, received = _top_input(state, state.train_x[rows], msg, settings)
    labels = torch.from_numpy(state.train_y[rows].astype(np.float32))
    state.optimizer.zero_grad()
    loss = nn.functional.binary_cross_entropy_with_logits(state.top(inputs), labels)
    loss.backward()
    state.optimizer.step()
    gradients = {}
    for index, embedding in enumerate(received):
        assert embedding.grad is not None
        per_row = embedding.grad.numpy() * len(rows)  # each row's own loss gradient
        gradients[protocol.gradient_key(index)] = protocol.arrays(
            gradient=settings.gradient.apply(per_row, state.rng)
        )
    state.train_releases[rows] += 1
    return _reply(msg, metrics=MetricRecord({"train_loss": loss.item()}), **gradients)


@app.evaluate("score")
def score(msg: Message, context: Context) -> Message:
    """The label holder: the vertical model's AUC and loss on the test rows."""
    state, settings = _state(context), _settings(context)
    if state.top is None or state.test_y is None or state.test_x is None:
        raise TaskError("this party does not hold the labels")
    state.top.eval()
    with torch.no_grad():
        inputs, _ = _top_input(state, state.test_x, msg, settings)
        logits = state.top(inputs)
    labels = state.test_y.astype(np.float32)
    loss = nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(labels))
    assert state.train_releases is not None
    releases = int(state.train_releases.max(initial=0))
    metrics = {
        "auc": auc_of(state.test_y, logits.numpy()),
        "loss": float(loss),
        "gradient_releases": releases,
    }
    spent = release_epsilon(
        noise_multiplier=settings.gradient.noise_multiplier, releases=releases, delta=settings.delta
    )
    if spent is not None:
        metrics["gradient_epsilon"] = spent
    return _reply(msg, metrics=MetricRecord(metrics))


@app.query("vertical_alone")
def alone(msg: Message, context: Context) -> Message:
    """The label holder: the AUC of the same architecture on its own columns only."""
    state, settings = _state(context), _settings(context)
    if state.train_y is None or state.test_y is None:
        raise TaskError("this party does not hold the labels")
    assert state.train_x is not None and state.test_x is not None
    scores = train_alone(
        state.train_x.numpy(),
        state.train_y,
        state.test_x.numpy(),
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        clip_norm=settings.embedding.clip_norm,
        seed=settings.seed,
    )
    return _reply(
        msg, metrics=MetricRecord({"label_holder_alone_auc": auc_of(state.test_y, scores)})
    )


@app.query("vertical_finish")
def finish(msg: Message, context: Context) -> Message:
    """Forget the job's state (models, rows, keys)."""
    forget(context.run_id, context.node_id)
    return _reply(msg, metrics=MetricRecord({}))
