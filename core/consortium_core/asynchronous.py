"""Asynchronous aggregation: FedAsync and FedBuff, as pure maths over lists of numpy arrays.

- **FedAsync** (Xie, Koyejo and Gupta, 2019, "Asynchronous Federated Optimization"): the server
  mixes each update into the global model as soon as it arrives,
  ``x <- (1 - a_t) x + a_t x_k`` with ``a_t = alpha * s(t - tau)``, where ``t`` is the server's
  model version now and ``tau`` the version the participant trained from;
- **FedBuff** (Nguyen et al., 2022, "Federated Learning with Buffered Asynchronous
  Aggregation"): the server buffers ``K`` updates as deltas from the model each participant
  received, weights each by ``s(staleness)`` and applies their mean with a server learning rate,
  ``x <- x + server_lr * (1/K) * sum_k s(staleness_k) * delta_k``.

The staleness functions ``s`` are registered by name (:data:`STALENESS_FUNCTIONS`):
``constant`` (1), ``polynomial`` (``(1 + staleness) ** -a``) and ``hinge`` (1 up to ``b``
versions late, then ``1 / (a * (staleness - b) + 1)``); ``a`` and ``b`` default to 0.5 for
``polynomial`` and to 10 and 4 for ``hinge``. :class:`AsyncSettings` reads a job's
run config (``strategy`` = ``FedAsync`` | ``FedBuff`` and the ``async.*`` keys) and refuses bad
values, all of them at once. Nothing here does I/O; the server loop that drives this is
``consortium_tasks.asynchronous``.

>>> import numpy as np
>>> staleness_weight("polynomial", staleness=3, a=0.5)
0.5
>>> fedasync_mix(global_arrays=[np.zeros(2)], update=[np.ones(2)], mixing=0.25)[0]
array([0.25, 0.25])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConsortiumError, UnknownNameError

__all__ = [
    "ASYNC_STRATEGIES",
    "STALENESS_FUNCTIONS",
    "AsyncSettings",
    "AsyncSettingsError",
    "BufferedUpdate",
    "StalenessFunction",
    "check_async_job",
    "delta_between",
    "fedasync_mix",
    "fedbuff_apply",
    "is_async_strategy",
    "staleness_weight",
]

ASYNC_STRATEGIES: Mapping[str, str] = {
    "FedAsync": "mix each update into the global model as it arrives (Xie et al., 2019)",
    "FedBuff": "apply the staleness-weighted mean of every K buffered deltas (Nguyen et al., 2022)",
}
"""The asynchronous strategies a job may name, with what each does. They are not Flower
``Strategy`` classes: the built-in ServerApp runs them with its own loop."""

PREFIX = "async."

StalenessFunction = Callable[..., float]


class AsyncSettingsError(ConsortiumError, ValueError):
    """Run config values for asynchronous aggregation that cannot work; lists every problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("asynchronous aggregation: " + "; ".join(self.problems))


def _check_staleness(staleness: int) -> None:
    if staleness < 0:
        raise AsyncSettingsError([f"staleness must be >= 0, got {staleness}"])


def constant(staleness: int, *, a: float = 0.5, b: int = 4) -> float:
    """Every update counts fully, however late.

    >>> constant(10)
    1.0
    """
    _check_staleness(staleness)
    return 1.0


def polynomial(staleness: int, *, a: float = 0.5, b: int = 4) -> float:
    """``(1 + staleness) ** -a``; ``a = 0.5`` is FedBuff's ``1 / sqrt(1 + staleness)``.

    >>> polynomial(0), polynomial(8, a=0.5)
    (1.0, 0.3333333333333333)
    """
    _check_staleness(staleness)
    return float((1.0 + staleness) ** -a)


def hinge(staleness: int, *, a: float = 10.0, b: int = 4) -> float:
    """1 while ``staleness <= b``, then ``1 / (a * (staleness - b) + 1)`` (FedAsync's hinge).

    >>> hinge(4, a=10, b=4), hinge(5, a=10, b=4)
    (1.0, 0.09090909090909091)
    """
    _check_staleness(staleness)
    if staleness <= b:
        return 1.0
    return 1.0 / (a * (staleness - b) + 1.0)


STALENESS_FUNCTIONS: Mapping[str, StalenessFunction] = {
    "constant": constant,
    "polynomial": polynomial,
    "hinge": hinge,
}


def staleness_weight(
    name: str, *, staleness: int, a: float | None = None, b: int | None = None
) -> float:
    """The weight ``s(staleness)`` of staleness function ``name`` (``a``, ``b``: its
    parameters, None for its defaults); an unknown name raises
    :class:`~consortium_core.errors.UnknownNameError`.

    >>> staleness_weight("hinge", staleness=1, a=10, b=4)
    1.0
    >>> staleness_weight("exponential", staleness=1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    consortium_core.errors.UnknownNameError: ...'exponential'; known: constant, hinge, polynomial
    """
    if name not in STALENESS_FUNCTIONS:
        raise UnknownNameError("staleness function", name, STALENESS_FUNCTIONS)
    params = {key: value for key, value in (("a", a), ("b", b)) if value is not None}
    return STALENESS_FUNCTIONS[name](staleness, **params)


def is_async_strategy(name: str) -> bool:
    """Whether strategy ``name`` is run by the asynchronous loop rather than a Flower Strategy.

    >>> is_async_strategy("FedBuff"), is_async_strategy("FedAvg")
    (True, False)
    """
    return name in ASYNC_STRATEGIES


def _check_same_shapes(left: Sequence[np.ndarray], right: Sequence[np.ndarray]) -> None:
    if len(left) != len(right) or any(
        x.shape != y.shape for x, y in zip(left, right, strict=False)
    ):
        raise AsyncSettingsError(
            [
                f"an update's arrays ({[y.shape for y in right]}) do not match the global "
                f"model's ({[x.shape for x in left]})"
            ]
        )


def _cast_like(values: np.ndarray, like: np.ndarray) -> np.ndarray:
    if np.issubdtype(like.dtype, np.integer):
        return np.rint(values).astype(like.dtype)
    return values.astype(like.dtype, copy=False)


def fedasync_mix(
    *, global_arrays: Sequence[np.ndarray], update: Sequence[np.ndarray], mixing: float
) -> list[np.ndarray]:
    """FedAsync's step ``(1 - mixing) * global + mixing * update``, array by array (dtypes kept;
    integer arrays are rounded).

    >>> import numpy as np
    >>> out = fedasync_mix(global_arrays=[np.array([1.0, 3.0]), np.array([2])],
    ...                    update=[np.array([3.0, 3.0]), np.array([4])], mixing=0.5)
    >>> out[0], out[1]
    (array([2., 3.]), array([3]))
    >>> fedasync_mix(global_arrays=[np.zeros(1)], update=[np.ones(1)], mixing=1.5)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    consortium_core.asynchronous.AsyncSettingsError: ...mixing weight must lie in [0, 1], got 1.5
    """
    if not 0.0 <= mixing <= 1.0 or math.isnan(mixing):
        raise AsyncSettingsError([f"the mixing weight must lie in [0, 1], got {mixing}"])
    _check_same_shapes(global_arrays, update)
    return [
        _cast_like(
            (1.0 - mixing) * np.asarray(g, dtype=np.float64)
            + mixing * np.asarray(u, dtype=np.float64),
            np.asarray(g),
        )
        for g, u in zip(global_arrays, update, strict=True)
    ]


@dataclass(frozen=True)
class BufferedUpdate:
    """One participant's update in FedBuff's buffer: ``delta`` = its trained model minus the
    model it received, ``staleness`` = versions the global model moved on meanwhile."""

    delta: list[np.ndarray]
    staleness: int


def fedbuff_apply(
    *,
    global_arrays: Sequence[np.ndarray],
    buffer: Sequence[BufferedUpdate],
    server_lr: float = 1.0,
    staleness: str = "polynomial",
    a: float | None = None,
    b: int | None = None,
) -> list[np.ndarray]:
    """FedBuff's step: ``global + server_lr * mean_k(s(staleness_k) * delta_k)``.

    >>> import numpy as np
    >>> fresh = BufferedUpdate(delta=[np.array([2.0])], staleness=0)
    >>> late = BufferedUpdate(delta=[np.array([2.0])], staleness=3)  # weight 1/sqrt(4) = 0.5
    >>> fedbuff_apply(global_arrays=[np.array([1.0])], buffer=[fresh, late])[0]
    array([2.5])
    >>> fedbuff_apply(global_arrays=[np.array([1.0])], buffer=[])
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    consortium_core.asynchronous.AsyncSettingsError: ...FedBuff needs at least one buffered update
    """
    if not buffer:
        raise AsyncSettingsError(["FedBuff needs at least one buffered update"])
    weights = [staleness_weight(staleness, staleness=u.staleness, a=a, b=b) for u in buffer]
    out = []
    for index, g in enumerate(global_arrays):
        total = np.zeros(np.shape(g), dtype=np.float64)
        for update, weight in zip(buffer, weights, strict=True):
            _check_same_shapes(global_arrays, update.delta)
            total += weight * np.asarray(update.delta[index], dtype=np.float64)
        step = np.asarray(g, dtype=np.float64) + server_lr * total / len(buffer)
        out.append(_cast_like(step, np.asarray(g)))
    return out


def delta_between(
    *, trained: Sequence[np.ndarray], received: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """``trained - received``, array by array, in float64 (a FedBuff delta).

    >>> import numpy as np
    >>> delta_between(trained=[np.array([3.0])], received=[np.array([1.0])])
    [array([2.])]
    """
    _check_same_shapes(received, trained)
    return [
        np.asarray(t, dtype=np.float64) - np.asarray(r, dtype=np.float64)
        for t, r in zip(trained, received, strict=True)
    ]


def _number(
    run_config: Mapping[str, Any],
    key: str,
    default: float,
    problems: list[str],
    *,
    kind: type = float,
    check: Callable[[float], bool],
    rule: str,
) -> Any:
    raw = run_config.get(PREFIX + key, default)
    try:
        if isinstance(raw, bool):
            raise ValueError
        value = kind(raw)
        if kind is int and float(raw) != value:
            raise ValueError
    except (TypeError, ValueError):
        problems.append(
            f"{PREFIX}{key} must be {'an integer' if kind is int else 'a number'}, got {raw!r}"
        )
        return default
    if not check(value) or (kind is float and not math.isfinite(value)):
        problems.append(f"{PREFIX}{key} must be {rule}, got {raw!r}")
        return default
    return value


@dataclass(frozen=True)
class AsyncSettings:
    """A job's asynchronous-aggregation settings (run config ``strategy`` and ``async.*``).

    ``concurrency`` 0 means every participant online trains at once; ``max_staleness`` None
    keeps every update however late; ``timeout_s`` is how long one train message may go
    unanswered before it counts as failed and another participant gets the model.

    >>> s = AsyncSettings.from_run_config({"strategy": "FedBuff", "async.buffer-size": 3})
    >>> s.strategy, s.buffer_size, s.staleness, s.server_lr
    ('FedBuff', 3, 'polynomial', 1.0)
    >>> AsyncSettings.from_run_config({"strategy": "FedAvg"}) is None
    True
    >>> try:
    ...     AsyncSettings.from_run_config(
    ...         {"strategy": "FedAsync", "async.alpha": 2, "async.staleness": "cubic"}
    ...     )
    ... except AsyncSettingsError as exc:
    ...     for problem in exc.problems:
    ...         print(problem)
    unknown staleness function 'cubic'; known: constant, hinge, polynomial
    async.alpha must be in (0, 1], got 2
    """

    strategy: str
    buffer_size: int = 2
    concurrency: int = 0
    staleness: str = "polynomial"
    staleness_a: float | None = None
    staleness_b: int | None = None
    alpha: float = 0.6
    server_lr: float = 1.0
    max_staleness: int | None = None
    timeout_s: float = 600.0

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> AsyncSettings | None:
        """The settings of an asynchronous job, None for any other strategy; raises
        :class:`AsyncSettingsError` listing every bad value."""
        strategy = str(run_config.get("strategy", ""))
        if not is_async_strategy(strategy):
            return None
        d = cls(strategy=strategy)
        problems: list[str] = []
        buffer_size = _number(
            run_config,
            "buffer-size",
            d.buffer_size,
            problems,
            kind=int,
            check=lambda v: v >= 1,
            rule=">= 1",
        )
        concurrency = _number(
            run_config,
            "concurrency",
            d.concurrency,
            problems,
            kind=int,
            check=lambda v: v >= 0,
            rule=">= 0 (0: every participant online)",
        )
        staleness = str(run_config.get(PREFIX + "staleness", d.staleness))
        if staleness not in STALENESS_FUNCTIONS:
            problems.append(
                str(UnknownNameError("staleness function", staleness, STALENESS_FUNCTIONS))
            )
        a = b = None
        if run_config.get(PREFIX + "staleness-a") not in (None, ""):
            a = _number(
                run_config, "staleness-a", 0.0, problems, check=lambda v: v >= 0, rule=">= 0"
            )
        if run_config.get(PREFIX + "staleness-b") not in (None, ""):
            b = _number(
                run_config,
                "staleness-b",
                0,
                problems,
                kind=int,
                check=lambda v: v >= 0,
                rule=">= 0",
            )
        alpha = _number(
            run_config, "alpha", d.alpha, problems, check=lambda v: 0 < v <= 1, rule="in (0, 1]"
        )
        server_lr = _number(
            run_config, "server-lr", d.server_lr, problems, check=lambda v: v > 0, rule="> 0"
        )
        max_staleness = None
        if run_config.get(PREFIX + "max-staleness") not in (None, ""):
            max_staleness = _number(
                run_config,
                "max-staleness",
                0,
                problems,
                kind=int,
                check=lambda v: v >= 0,
                rule=">= 0",
            )
        timeout_s = _number(
            run_config,
            "timeout-s",
            d.timeout_s,
            problems,
            check=lambda v: v > 0,
            rule="> 0 seconds",
        )
        if problems:
            raise AsyncSettingsError(problems)
        return cls(
            strategy=strategy,
            buffer_size=buffer_size,
            concurrency=concurrency,
            staleness=staleness,
            staleness_a=a,
            staleness_b=b,
            alpha=alpha,
            server_lr=server_lr,
            max_staleness=max_staleness,
            timeout_s=timeout_s,
        )

    def weight(self, staleness: int) -> float:
        """``s(staleness)`` with this job's staleness function and parameters.

        >>> AsyncSettings(strategy="FedAsync", staleness="constant").weight(7)
        1.0
        """
        return staleness_weight(
            self.staleness, staleness=staleness, a=self.staleness_a, b=self.staleness_b
        )

    def too_stale(self, staleness: int) -> bool:
        """Whether an update this late is dropped (``async.max-staleness``).

        >>> AsyncSettings(strategy="FedBuff", max_staleness=2).too_stale(3)
        True
        """
        return self.max_staleness is not None and staleness > self.max_staleness


def check_async_job(run_config: Mapping[str, Any]) -> AsyncSettings | None:
    """A job's asynchronous settings (None when its strategy is synchronous), refusing what
    cannot run asynchronously: SecAgg+ (it masks a fixed cohort's updates so that only their
    sum opens; an update that arrives alone cannot be unmasked) and central DP (its noise is
    calibrated to a round's cohort of ``min-participants`` clipped updates); a job privacy
    budget and update compression are not wired into the asynchronous loop yet.

    >>> check_async_job({"strategy": "FedBuff", "secure-aggregation": True})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    consortium_core.asynchronous.AsyncSettingsError: ...FedBuff cannot run with secure-...
    """
    from .secure_aggregation import SECURE_AGGREGATION_KEY, SecureAggregationSettings

    settings = AsyncSettings.from_run_config(run_config)
    if settings is None:
        return None
    problems = []
    if SecureAggregationSettings.from_run_config(run_config) is not None:
        problems.append(
            f"{settings.strategy} cannot run with {SECURE_AGGREGATION_KEY}: SecAgg+ opens only "
            "the sum of a whole round's masked updates, and asynchronous aggregation applies "
            "updates one by one (or a few at a time) as they arrive; use FedAvg with secure "
            "aggregation, or turn it off"
        )
    if run_config.get("central-dp") not in (None, "", False):
        problems.append(
            f"{settings.strategy} cannot run with central-dp: its noise is calibrated to a "
            "synchronous round of min-participants clipped updates; use DP-SGD on the "
            "participants (dp-noise-multiplier or dp-target-epsilon) instead"
        )
    if run_config.get("privacy-budget-epsilon") not in (None, ""):
        problems.append(
            f"{settings.strategy} cannot run with privacy-budget-epsilon yet: the job's budget "
            "composes one training per participant per round, and an asynchronous round can "
            "hold several trainings of one participant (participants' own ledgers still "
            "count every training)"
        )
    compressed = sorted(
        key
        for key in ("compression.up", "compression.down")
        if run_config.get(key) not in (None, "", "none")
    )
    if compressed:
        problems.append(
            f"{settings.strategy} does not run with {' and '.join(compressed)} yet: compression "
            "wraps a synchronous Flower Strategy, and the asynchronous loop is not one"
        )
    if problems:
        raise AsyncSettingsError(problems)
    return settings
