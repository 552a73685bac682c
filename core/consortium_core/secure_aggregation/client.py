"""The participant side of SecAgg+: Flower's ``secaggplus_mod`` around a task's training.

A SecAgg+ round reaches a ClientApp as four ``train`` messages (setup, share keys, collect
masked vectors, unmask) in Flower's legacy record layout. :func:`secure_train` hands each to
``secaggplus_mod``; at the third, the mod calls the task's training and sends back only the
masked, quantized update: the reply's arrays are emptied, so the plaintext never leaves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flwr.compat.common.recorddict_compat as compat
from flwr.app import Context, Message
from flwr.client.mod import secaggplus_mod
from flwr.common import (
    Code,
    FitRes,
    NDArrays,
    Scalar,
    Status,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS

__all__ = ["NDArrayTrain", "is_secure_aggregation_message", "secure_train"]

NDArrayTrain = Callable[
    [NDArrays, dict[str, Scalar], Context], tuple[NDArrays, int, dict[str, Scalar]]
]
"""Training on nameless arrays in the model's order: ``(arrays, config, context)`` to
``(new arrays, number of examples, metrics)``."""


def is_secure_aggregation_message(message: Message) -> bool:
    """True for a SecAgg+ stage message (it carries the protocol's config record)."""
    return message.has_content() and RECORD_KEY_CONFIGS in message.content.config_records


def secure_train(message: Message, context: Context, train: NDArrayTrain) -> Message:
    """Answer one SecAgg+ stage message; ``train`` runs at the masked-vector stage."""

    def fit(inner: Message, inner_context: Context) -> Message:
        fitins = compat.recorddict_to_fitins(inner.content, keep_input=True)
        arrays, num_examples, metrics = train(
            parameters_to_ndarrays(fitins.parameters), dict(fitins.config), inner_context
        )
        fitres = FitRes(
            status=Status(code=Code.OK, message="ok"),
            parameters=ndarrays_to_parameters(arrays),
            num_examples=num_examples,
            metrics=_scalars(metrics),
        )
        return Message(compat.fitres_to_recorddict(fitres, keep_input=False), reply_to=inner)

    return secaggplus_mod(message, context, fit)


def _scalars(metrics: dict[str, Any]) -> dict[str, Scalar]:
    return {k: v for k, v in metrics.items() if isinstance(v, int | float | str | bytes | bool)}
