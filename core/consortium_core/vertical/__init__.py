"""Vertical federated learning's pure parts: settings, row alignment, and what protects what
crosses between parties (clipped, noised embeddings and gradients, with their epsilon).

The protocol itself (private set intersection, the split network) is a task:
:mod:`consortium_tasks.fraud_vertical`. See docs/vertical.md for the threat model.
"""

from .alignment import aligned_order, held_out_mask
from .protection import Protection, clip_rows, release_epsilon
from .settings import VERTICAL_KEYS, VerticalSettings, VerticalSettingsError

__all__ = [
    "VERTICAL_KEYS",
    "Protection",
    "VerticalSettings",
    "VerticalSettingsError",
    "aligned_order",
    "clip_rows",
    "held_out_mask",
    "release_epsilon",
]
