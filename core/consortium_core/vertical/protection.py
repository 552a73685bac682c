"""What protects the rows that cross between parties in vertical training.

A feature party sends one embedding row per customer; the label holder sends back one gradient
row per customer. Each row is clipped to an L2 norm and Gaussian noise of ``noise_multiplier``
times that norm is added: the Gaussian mechanism, once per row per release.

Accounting (:func:`release_epsilon`): a row is released once per epoch; neighbouring data sets
differ in one customer's features (for embeddings) or label (for gradients), which can move that
customer's clipped row anywhere in the ball, so the sensitivity is twice the clip norm and the
effective noise multiplier is half the one set. There is no subsampling amplification: every
row is released in every epoch. Opacus's RDP accountant composes the releases.

>>> rows = np.array([[3.0, 4.0], [0.3, 0.4]])
>>> clip_rows(rows, 1.0).round(3).tolist()
[[0.6, 0.8], [0.3, 0.4]]
>>> release_epsilon(noise_multiplier=0.0, releases=3, delta=1e-5) is None
True
>>> round(release_epsilon(noise_multiplier=4.0, releases=1, delta=1e-5), 2)
2.17
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..privacy.accounting import epsilon

__all__ = ["Protection", "clip_rows", "release_epsilon"]


def clip_rows(rows: np.ndarray, clip_norm: float) -> np.ndarray:
    """Scale down every row whose L2 norm exceeds ``clip_norm``; others are kept."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows * np.minimum(1.0, clip_norm / np.maximum(norms, 1e-12))


def release_epsilon(*, noise_multiplier: float, releases: int, delta: float) -> float | None:
    """Epsilon at ``delta`` of ``releases`` releases of one customer's row, or ``None`` when
    there is no noise (no formal guarantee at all)."""
    if noise_multiplier <= 0:
        return None
    if releases == 0:
        return 0.0
    with warnings.catch_warnings():  # small noise: the bound is loose, and still a bound
        warnings.filterwarnings("ignore", message="Optimal order is the")
        return epsilon(
            accountant="rdp",
            noise_multiplier=noise_multiplier / 2,  # replace-one: sensitivity 2 x the clip norm
            sample_rate=1.0,
            steps=releases,
            delta=delta,
        )


@dataclass(frozen=True)
class Protection:
    """Clip norm and noise multiplier for one kind of row (embeddings or gradients)."""

    clip_norm: float
    noise_multiplier: float

    def apply(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``rows`` clipped and noised, as float32 (what may leave the party).

        >>> p = Protection(clip_norm=1.0, noise_multiplier=0.0)
        >>> p.apply(np.array([[3.0, 4.0]]), np.random.default_rng(0)).tolist()
        [[0.6000000238418579, 0.800000011920929]]
        """
        return self.add_noise(clip_rows(np.asarray(rows, dtype=np.float64), self.clip_norm), rng)

    def add_noise(self, clipped: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Rows already clipped to ``clip_norm`` (by autograd-aware code), noised, as float32."""
        noised = np.asarray(clipped, dtype=np.float64)
        if self.noise_multiplier > 0:
            noised = noised + rng.normal(
                0.0, self.noise_multiplier * self.clip_norm, size=noised.shape
            )
        return noised.astype(np.float32)
