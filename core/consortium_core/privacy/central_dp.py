"""Central DP as a job option, with Flower's own DP strategy wrappers and client mods.

Run config keys: ``central-dp`` (``server-fixed``, ``client-fixed``, ``server-adaptive`` or
``client-adaptive``: who clips each participant's update, and whether the clipping norm is
fixed or follows a quantile of the update norms), ``central-dp-noise-multiplier`` (required),
``central-dp-clipping-norm`` (fixed clipping, default 1.0; the initial norm when adaptive).

The server adds Gaussian noise of std ``noise_multiplier * clipping_norm / m`` to the average
of the ``m`` clipped updates; ``m`` is the job's ``min-participants`` (Flower's
``num_sampled_clients``), so a round with more participants gets more noise than it needs,
never less. Each update weighs the same (FedAvg on ``unit-weight``): with example-count weights
one participant could move the average by more than ``clip / m`` and the guarantee would not
hold. With client-side clipping the participants clip with Flower's ``fixedclipping_mod`` or
``adaptiveclipping_mod``, applied to training messages only.

The guarantee is per participant (user-level) over all rounds: the Gaussian mechanism without
subsampling amplification, ``(noise_multiplier, 1.0, rounds)`` for the accountants. Adaptive
clipping also spends budget on its noisy quantile estimate, which is not accounted here: its
epsilon is reported as unknown.

>>> settings = CentralDPSettings.from_run_config(
...     {"central-dp": "server-fixed", "central-dp-noise-multiplier": 1.0})
>>> settings.mode, settings.clipping_norm, settings.client_side, settings.accounted
('server-fixed', 1.0, False, True)
>>> round(settings.epsilon(rounds=10, delta=1e-5, accountant="rdp"), 2)
19.05
>>> CentralDPSettings.from_run_config({"central-dp": "sometimes"})
Traceback (most recent call last):
...
consortium_core.privacy.errors.PrivacyParameterError: central-dp must be one of ...
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flwr.serverapp.strategy import (
    DifferentialPrivacyClientSideAdaptiveClipping,
    DifferentialPrivacyClientSideFixedClipping,
    DifferentialPrivacyServerSideAdaptiveClipping,
    DifferentialPrivacyServerSideFixedClipping,
    Strategy,
)

from .accounting import composed_epsilon
from .errors import PrivacyParameterError

__all__ = ["CENTRAL_DP_MODES", "UNIT_WEIGHT_KEY", "CentralDPSettings"]

CENTRAL_DP_MODES = ("server-fixed", "client-fixed", "server-adaptive", "client-adaptive")
UNIT_WEIGHT_KEY = "unit-weight"
"""A metric every built-in ClientApp reports as 1, so FedAvg can weigh updates equally."""


@dataclass(frozen=True)
class CentralDPSettings:
    """Which of Flower's central-DP wrappers, and its noise and clipping."""

    mode: str
    noise_multiplier: float
    clipping_norm: float = 1.0

    @property
    def client_side(self) -> bool:
        """Whether participants clip their own updates (with Flower's client mods)."""
        return self.mode.startswith("client")

    @property
    def adaptive(self) -> bool:
        return self.mode.endswith("adaptive")

    @property
    def accounted(self) -> bool:
        """Whether :meth:`epsilon` is a valid guarantee (fixed clipping only)."""
        return not self.adaptive

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> CentralDPSettings | None:
        """The job's central DP, or None when ``central-dp`` is absent."""
        mode = run_config.get("central-dp")
        if mode is None:
            extra = sorted(k for k in run_config if k.startswith("central-dp-"))
            if extra:
                raise PrivacyParameterError(f"{', '.join(extra)} given without central-dp")
            return None
        problems = []
        if mode not in CENTRAL_DP_MODES:
            problems.append(
                f"central-dp must be one of {', '.join(CENTRAL_DP_MODES)}, got {mode!r}"
            )
        sigma = run_config.get("central-dp-noise-multiplier")
        if not _positive(sigma):
            problems.append(f"central-dp-noise-multiplier must be a number > 0, got {sigma!r}")
        clip = run_config.get("central-dp-clipping-norm", 1.0)
        if not _positive(clip):
            problems.append(f"central-dp-clipping-norm must be a number > 0, got {clip!r}")
        if problems:
            raise PrivacyParameterError("; ".join(problems))
        return cls(mode=str(mode), noise_multiplier=float(sigma), clipping_norm=float(clip))

    def wrap(self, strategy: Strategy, *, num_sampled_clients: int) -> Strategy:
        """``strategy`` inside the matching Flower DP wrapper."""
        if self.mode == "server-fixed":
            return DifferentialPrivacyServerSideFixedClipping(
                strategy, self.noise_multiplier, self.clipping_norm, num_sampled_clients
            )
        if self.mode == "client-fixed":
            return DifferentialPrivacyClientSideFixedClipping(
                strategy, self.noise_multiplier, self.clipping_norm, num_sampled_clients
            )
        wrapper = (
            DifferentialPrivacyServerSideAdaptiveClipping
            if self.mode == "server-adaptive"
            else DifferentialPrivacyClientSideAdaptiveClipping
        )
        return wrapper(
            strategy,
            self.noise_multiplier,
            num_sampled_clients,
            initial_clipping_norm=self.clipping_norm,
        )

    def epsilon(self, *, rounds: int, delta: float, accountant: str = "rdp") -> float | None:
        """Each participant's epsilon after ``rounds`` noisy aggregates (None when adaptive)."""
        if not self.accounted:
            return None
        return composed_epsilon(
            accountant=accountant, history=[(self.noise_multiplier, 1.0, rounds)], delta=delta
        )


def _positive(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )
