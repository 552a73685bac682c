"""A job's homomorphic-encryption settings (``aggregation = "he-ckks"``), checked before it starts.

Run config keys: ``aggregation`` (``plain``, the default; ``secagg+``, the same as
``secure-aggregation = true``; or ``he-ckks``) and, for ``he-ckks``, all optional:
``he-poly-modulus-degree`` (8192: a ciphertext holds half as many values, 4096),
``he-scale-bits`` (40: the fixed-point precision, about 1e-7 on model weights) and
``he-rekey-on-leave`` (true: when a participant that holds the job's key is no longer in the
job, a remaining participant deals a fresh key and re-encrypts the global model under it, so
the one who left cannot read later aggregates even with the coordinator's help).

The coefficient modulus is ``[60, scale_bits, 60]``: one rescaling level, enough for the one
plaintext multiplication (each update by its weight) the coordinator does, and values up to
about ``2**(60 - scale_bits)`` in magnitude.

Refused with ``he-ckks``: SecAgg+ (one protection of the sum is enough), central DP and
quality weighting (they need the server to see updates or their norms), compression (a
compressed update cannot be added under encryption), contribution scoring (it needs each
update in the clear), asynchronous strategies, and strategies other than FedAvg and FedProx
(the coordinator can only form a weighted sum).

>>> HomomorphicSettings.from_run_config({}) is None
True
>>> s = HomomorphicSettings.from_run_config({"aggregation": "he-ckks"})
>>> s.poly_modulus_degree, s.slots, s.coeff_mod_bit_sizes, s.rekey_on_leave
(8192, 4096, (60, 40, 60), True)
>>> HomomorphicSettings.from_run_config({"aggregation": "he-ckks", "he-scale-bits": 70})
Traceback (most recent call last):
...
consortium_core.homomorphic.errors.HomomorphicConfigError: he-scale-bits must be an integer \
from 20 to 50, got 70
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import HomomorphicConfigError

__all__ = [
    "AGGREGATIONS",
    "AGGREGATION_KEY",
    "HE_CKKS",
    "HE_STRATEGIES",
    "MODEL_RECORD",
    "HomomorphicSettings",
    "aggregation_of",
]

AGGREGATION_KEY = "aggregation"
HE_CKKS = "he-ckks"
MODEL_RECORD = "he-model"
"""The record holding a he-ckks job's encrypted global model in a message (the runtime's
checks treat a train message carrying it as one that trains)."""
SECAGG = "secagg+"
AGGREGATIONS = ("plain", SECAGG, HE_CKKS)
HE_STRATEGIES = ("FedAvg", "FedProx")
_PREFIX = "he-"
_POLY_DEGREES = (8192, 16384)
_REFUSED_WITH_HE = {
    "secure-aggregation": "SecAgg+ (one protection of the sum is enough: pick one)",
    "central-dp": "central DP (the server would have to clip and noise updates it cannot "
    "read; use DP-SGD on the participants, dp-target-epsilon)",
    "contributions": "contribution scoring (it needs each update in the clear)",
}


def aggregation_of(run_config: Mapping[str, Any]) -> str:
    """The job's aggregation mode, one of :data:`AGGREGATIONS`.

    >>> aggregation_of({}), aggregation_of({"aggregation": "HE-CKKS"})
    ('plain', 'he-ckks')
    """
    value = run_config.get(AGGREGATION_KEY, "plain")
    mode = str(value).strip().lower()
    if mode not in AGGREGATIONS:
        raise HomomorphicConfigError(
            f"{AGGREGATION_KEY} must be one of {', '.join(AGGREGATIONS)}, got {value!r}"
        )
    return mode


@dataclass(frozen=True)
class HomomorphicSettings:
    """CKKS parameters of a ``he-ckks`` job."""

    poly_modulus_degree: int = 8192
    scale_bits: int = 40
    rekey_on_leave: bool = True

    @property
    def slots(self) -> int:
        """How many values one ciphertext holds."""
        return self.poly_modulus_degree // 2

    @property
    def coeff_mod_bit_sizes(self) -> tuple[int, int, int]:
        """The coefficient modulus primes' sizes: one level for the weighting."""
        return (60, self.scale_bits, 60)

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> HomomorphicSettings | None:
        """The settings when ``aggregation`` is ``he-ckks``, else None; anything that cannot
        work raises :class:`HomomorphicConfigError` naming every problem."""
        own = sorted(k for k in run_config if k.startswith(_PREFIX))
        if aggregation_of(run_config) != HE_CKKS:
            if own:
                raise HomomorphicConfigError(
                    f"{', '.join(own)} given but {AGGREGATION_KEY} is not {HE_CKKS}"
                )
            return None
        problems = [
            f"{AGGREGATION_KEY} = {HE_CKKS} cannot run with {why}"
            for key, why in _REFUSED_WITH_HE.items()
            if _is_set(run_config.get(key))
        ]
        if str(run_config.get("weighting", "examples")).strip().lower() == "quality":
            problems.append(
                f"{AGGREGATION_KEY} = {HE_CKKS} cannot run with weighting = quality (the "
                "weights would come from the updates)"
            )
        if any(k.startswith("compression.") for k in run_config):
            problems.append(
                f"{AGGREGATION_KEY} = {HE_CKKS} cannot run with compression (a compressed "
                "update cannot be added under encryption)"
            )
        strategy = str(run_config.get("strategy", "FedAvg"))
        if strategy not in HE_STRATEGIES:
            problems.append(
                f"{AGGREGATION_KEY} = {HE_CKKS} runs with strategy {' or '.join(HE_STRATEGIES)} "
                f"(the coordinator can only form a weighted sum of ciphertexts), got {strategy}"
            )
        degree = run_config.get(_PREFIX + "poly-modulus-degree", cls.poly_modulus_degree)
        if degree not in _POLY_DEGREES or isinstance(degree, bool):
            problems.append(
                f"{_PREFIX}poly-modulus-degree must be one of "
                f"{', '.join(map(str, _POLY_DEGREES))}, got {degree!r}"
            )
        scale = run_config.get(_PREFIX + "scale-bits", cls.scale_bits)
        if isinstance(scale, bool) or not isinstance(scale, int) or not 20 <= scale <= 50:
            problems.append(f"{_PREFIX}scale-bits must be an integer from 20 to 50, got {scale!r}")
        rekey = run_config.get(_PREFIX + "rekey-on-leave", cls.rekey_on_leave)
        if not isinstance(rekey, bool) and str(rekey).lower() not in ("true", "false"):
            problems.append(f"{_PREFIX}rekey-on-leave must be true or false, got {rekey!r}")
        known = {f"{_PREFIX}{n}" for n in ("poly-modulus-degree", "scale-bits", "rekey-on-leave")}
        unknown = sorted(set(own) - known)
        if unknown:
            problems.append(f"unknown {', '.join(unknown)}")
        if problems:
            raise HomomorphicConfigError("; ".join(problems))
        return cls(
            poly_modulus_degree=int(degree),
            scale_bits=int(scale),
            rekey_on_leave=rekey is True or str(rekey).lower() == "true",
        )


def _is_set(value: Any) -> bool:
    """Whether a run config value turns its option on (absent, false, none and 0 do not)."""
    if value is None or value is False:
        return False
    return str(value).strip().lower() not in ("", "false", "0", "no", "none", "off", "plain")
