"""Synthetic(alpha, beta): a federated benchmark of many small, non-IID devices, generated per
device so that a federation of 10,000 devices costs no memory until a device is used.

Ground truth, after Li et al., "Federated Optimization in Heterogeneous Networks" (FedProx,
MLSys 2020), the ``synthetic_{alpha}_{beta}`` sets (also shipped with LEAF's benchmarks), with
one addition (the population model) explained below. Device ``k`` has:

- a sample count ``n_k = min(5 + floor(LogNormal(3, 1.5)), 200)`` (heavy-tailed, LEAF's
  ``get_num_samples`` with a smaller spread and cap: median about 25, mean about 48);
- features ``x ~ N(v_k, Sigma)`` with ``v_k ~ N(B_k, 1)`` per feature, ``B_k ~ N(0, beta)``,
  ``Sigma = diag(j^-1.2)`` for ``j = 1..60``;
- its own softmax model ``W_k = W_0 + N(u_k, 1)`` (60 x 10), ``b_k = b_0 + N(u_k, 1)`` (10),
  ``u_k ~ N(0, alpha)``, and labels ``y = argmax(x W_k + b_k)`` over 10 classes.

``N(m, s)`` is written as FedProx's code draws it: ``s`` is the standard deviation.

The population model ``W_0, b_0 ~ N(0, 2)`` is the same for every device (drawn once from
:data:`WORLD_SEED`). FedProx's generator has ``W_0 = 0``: its device models are then
independent and exchangeable across classes (``u_k`` shifts every class alike), so on devices
not seen in training every model scores chance (10 %) and FedProx measures accuracy on
held-out samples of the training devices instead. With ``W_0`` a held-out set of separate
devices is meaningful: a logistic regression trained centrally on 1,000 devices scores about
54 % on it and ``W_0`` itself about 62 % (per-device noise bounds what one global model can
reach). Labels are strongly non-IID: the most frequent label of a device holds about 84 % of
its examples on average.

Every device is a pure function of ``(seed, device id)`` (NumPy's ``default_rng`` seeded with
``[stream, seed, device]``); the held-out test set is the union of :data:`NUM_TEST_DEVICES`
devices of a separate stream, the same for every seed.

>>> x, y = device_data(seed=42, device=7)
>>> x.shape[1], x.dtype, y.dtype, bool(x.shape[0] == y.shape[0] >= MIN_SAMPLES)
(60, dtype('float32'), dtype('int64'), True)
>>> again, _ = device_data(seed=42, device=7)
>>> bool((again == x).all())
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "MAX_SAMPLES",
    "MIN_SAMPLES",
    "NUM_CLASSES",
    "NUM_FEATURES",
    "NUM_TEST_DEVICES",
    "TEST_SEED",
    "WORLD_SEED",
    "SyntheticSpec",
    "device_data",
    "devices_data",
    "held_out_devices_data",
]

NUM_FEATURES = 60
NUM_CLASSES = 10
MIN_SAMPLES = 5
MAX_SAMPLES = 200
NUM_TEST_DEVICES = 200
WORLD_SEED = 0
TEST_SEED = 0
_TRAIN_STREAM, _TEST_STREAM, _WORLD_STREAM = 0, 1, 2


@dataclass(frozen=True)
class SyntheticSpec:
    """The generator's parameters; the defaults are Synthetic(1, 1) with a population model."""

    alpha: float = 1.0
    beta: float = 1.0
    population_scale: float = 2.0
    samples_log_mean: float = 3.0
    samples_log_sigma: float = 1.5


DEFAULT_SPEC = SyntheticSpec()


@lru_cache(maxsize=4)
def _population_model(scale: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([_WORLD_STREAM, WORLD_SEED])
    weights = rng.normal(0.0, scale, (NUM_FEATURES, NUM_CLASSES))
    bias = rng.normal(0.0, scale, NUM_CLASSES)
    return weights, bias


_FEATURE_STD = np.arange(1, NUM_FEATURES + 1, dtype=np.float64) ** -0.6  # sqrt(j^-1.2)


def _generate(stream: int, seed: int, device: int, spec: SyntheticSpec) -> tuple[np.ndarray, ...]:
    if device < 0:
        raise ValueError(f"device id must be >= 0, got {device}")
    rng = np.random.default_rng([stream, seed, device])
    count = int(
        min(
            MIN_SAMPLES + int(rng.lognormal(spec.samples_log_mean, spec.samples_log_sigma)),
            MAX_SAMPLES,
        )
    )
    u = rng.normal(0.0, spec.alpha)
    shift = rng.normal(0.0, spec.beta)
    feature_mean = rng.normal(shift, 1.0, NUM_FEATURES)
    base_weights, base_bias = _population_model(spec.population_scale)
    weights = base_weights + rng.normal(u, 1.0, (NUM_FEATURES, NUM_CLASSES))
    bias = base_bias + rng.normal(u, 1.0, NUM_CLASSES)
    x = feature_mean + rng.standard_normal((count, NUM_FEATURES)) * _FEATURE_STD
    y = np.argmax(x @ weights + bias, axis=1)
    return x.astype(np.float32), y.astype(np.int64)


def device_data(
    *, seed: int, device: int, spec: SyntheticSpec = DEFAULT_SPEC
) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(n_k, 60)`` float32 and labels ``(n_k,)`` int64 of training device ``device``
    of the federation drawn with ``seed``."""
    x, y = _generate(_TRAIN_STREAM, seed, device, spec)
    return x, y


def devices_data(
    *, seed: int, devices: range, spec: SyntheticSpec = DEFAULT_SPEC
) -> tuple[np.ndarray, np.ndarray]:
    """The training devices ``devices`` of the federation ``seed``, concatenated."""
    parts = [device_data(seed=seed, device=d, spec=spec) for d in devices]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def held_out_devices_data(
    *, num_devices: int = NUM_TEST_DEVICES, spec: SyntheticSpec = DEFAULT_SPEC
) -> tuple[np.ndarray, np.ndarray]:
    """The held-out test set: ``num_devices`` devices of their own stream, never trained on."""
    parts = [_generate(_TEST_STREAM, TEST_SEED, d, spec) for d in range(num_devices)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
