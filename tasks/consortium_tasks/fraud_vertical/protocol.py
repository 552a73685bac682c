"""The names both sides of a vertical job use: message types and record keys."""

from __future__ import annotations

import numpy as np
from flwr.app import Array, ArrayRecord, MessageType

__all__ = [
    "ALONE",
    "BACKWARD",
    "DESCRIBE",
    "EVAL_FORWARD",
    "FINISH",
    "FORWARD",
    "PREPARE",
    "PSI_FINISH",
    "PSI_REQUEST",
    "PSI_SERVE",
    "SCORE",
    "STEP",
    "arrays",
    "embedding_key",
    "gradient_key",
]

DESCRIBE = f"{MessageType.QUERY}.vertical_describe"
PSI_REQUEST = f"{MessageType.QUERY}.psi_request"
PSI_SERVE = f"{MessageType.QUERY}.psi_serve"
PSI_FINISH = f"{MessageType.QUERY}.psi_finish"
PREPARE = f"{MessageType.QUERY}.vertical_prepare"
FORWARD = f"{MessageType.TRAIN}.forward"  # a feature party: apply a gradient, embed a batch
STEP = f"{MessageType.TRAIN}.step"  # the label holder: one step, gradients back
BACKWARD = f"{MessageType.TRAIN}.backward"  # a feature party: apply the last gradient
EVAL_FORWARD = f"{MessageType.EVALUATE}.forward"  # a feature party: embed test rows
SCORE = f"{MessageType.EVALUATE}.score"  # the label holder: AUC on test rows
ALONE = f"{MessageType.QUERY}.vertical_alone"  # the label holder: its own columns only
FINISH = f"{MessageType.QUERY}.vertical_finish"  # everyone: forget the job's state

OWN_SET = "own"
ALIGNED_SET = "aligned"


def embedding_key(index: int) -> str:
    """The record key of feature party ``index``'s embedding in a message to the label holder."""
    return f"embedding-{index}"


def gradient_key(index: int) -> str:
    """The record key of the gradient for feature party ``index`` in the label holder's reply."""
    return f"gradient-{index}"


def arrays(**named: np.ndarray) -> ArrayRecord:
    """An ArrayRecord of NumPy arrays by name."""
    return ArrayRecord({name: Array(np.ascontiguousarray(value)) for name, value in named.items()})
