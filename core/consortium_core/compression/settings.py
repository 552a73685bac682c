"""A job's compression settings, from its run config, checked before the job starts.

Run config keys: ``compression.up`` (``none``, ``q8`` or ``topk``: what participants send),
``compression.down`` (``none`` or ``q8``: what the server broadcasts), and, all optional,
``compression.topk-fraction`` (0.01: the share of each tensor top-k keeps),
``compression.topk-q8`` (false: quantize top-k's kept values too),
``compression.block-size`` (4096: values per q8 scale/offset pair),
``compression.stochastic-rounding`` (false: unbiased rounding for q8 uplink) and
``compression.error-feedback`` (true: participants keep what compression dropped and add it to
their next update).

Refused: compression with ``secure-aggregation`` (SecAgg+ sums masked vectors of one fixed
layout in a finite field; a compressed update has its own scales or indices per participant,
which cannot be summed under masks, and decoding one would show the server that participant's
update, which SecAgg+ exists to hide), and uplink compression with client-side central DP
(``central-dp`` = ``client-fixed``/``client-adaptive``: with error feedback a message can carry
more than the clipping norm, so the server's noise would no longer cover it; server-side
clipping applies to the decoded update and works), and compression with an asynchronous
strategy (FedAsync, FedBuff: their loop does not go through the compression wrapper yet).
``topk`` downlink is refused: a broadcast global model must be whole.

>>> CompressionSettings.from_run_config({}) is None
True
>>> s = CompressionSettings.from_run_config({"compression.up": "topk",
...     "compression.topk-fraction": 0.05, "compression.down": "q8"})
>>> s.up, s.down, s.topk_fraction, s.uplink().name, s.downlink().name
('topk', 'q8', 0.05, 'topk', 'q8')
>>> CompressionSettings.from_run_config({"compression.up": "zip", "compression.down": "topk"})
... # doctest: +ELLIPSIS
Traceback (most recent call last):
...
consortium_core.compression.errors.CompressionConfigError: compression.up must be one of ...; \
compression.down must be one of none, q8, got 'topk'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..privacy.central_dp import CentralDPSettings
from ..secure_aggregation.settings import SecureAggregationSettings
from .codecs import COMPRESSORS, Compressor, build_compressor
from .errors import CompressionConfigError
from .q8 import DEFAULT_BLOCK_SIZE

__all__ = ["COMPRESSION_KEYS", "DOWNLINK_CODECS", "CompressionSettings"]

PREFIX = "compression."
DOWNLINK_CODECS = ("none", "q8")
COMPRESSION_KEYS = tuple(
    PREFIX + key
    for key in (
        "up",
        "down",
        "topk-fraction",
        "topk-q8",
        "block-size",
        "stochastic-rounding",
        "error-feedback",
    )
)


@dataclass(frozen=True)
class CompressionSettings:
    """What each direction uses, and the codecs' options."""

    up: str = "none"
    down: str = "none"
    topk_fraction: float = 0.01
    topk_q8: bool = False
    block_size: int = DEFAULT_BLOCK_SIZE
    stochastic_rounding: bool = False
    error_feedback: bool = True

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> CompressionSettings | None:
        """The settings when either direction is compressed, else None (with no other
        ``compression.*`` key); bad values raise :class:`CompressionConfigError` naming every
        problem."""
        given = {k: v for k, v in run_config.items() if k.startswith(PREFIX)}
        problems = [
            f"unknown setting {key} (known: {', '.join(COMPRESSION_KEYS)})"
            for key in sorted(set(given) - set(COMPRESSION_KEYS))
        ]
        up = str(given.get(PREFIX + "up", "none"))
        down = str(given.get(PREFIX + "down", "none"))
        if up not in COMPRESSORS:
            problems.append(f"{PREFIX}up must be one of {', '.join(COMPRESSORS)}, got {up!r}")
        if down not in DOWNLINK_CODECS:
            problems.append(
                f"{PREFIX}down must be one of {', '.join(DOWNLINK_CODECS)}, got {down!r}"
            )
        defaults = cls()
        fraction = _number(given, "topk-fraction", defaults.topk_fraction, problems)
        if not 0 < fraction <= 1:
            problems.append(f"{PREFIX}topk-fraction must be in (0, 1], got {fraction}")
        block_size = _number(given, "block-size", defaults.block_size, problems)
        if block_size < 1 or block_size != int(block_size):
            problems.append(f"{PREFIX}block-size must be a positive integer, got {block_size}")
        settings = cls(
            up=up,
            down=down,
            topk_fraction=fraction,
            topk_q8=_flag(given, "topk-q8", defaults.topk_q8, problems),
            block_size=int(block_size) if block_size == int(block_size) else 1,
            stochastic_rounding=_flag(
                given, "stochastic-rounding", defaults.stochastic_rounding, problems
            ),
            error_feedback=_flag(given, "error-feedback", defaults.error_feedback, problems),
        )
        if not problems:
            problems += settings._conflicts(given, run_config)
        if problems:
            raise CompressionConfigError("; ".join(problems))
        return None if settings.up == settings.down == "none" else settings

    def _conflicts(self, given: Mapping[str, Any], run_config: Mapping[str, Any]) -> list[str]:
        problems = []
        if self.up != "topk":
            problems += [
                f"{PREFIX}{key} given but {PREFIX}up is {self.up!r}, not 'topk'"
                for key in ("topk-fraction", "topk-q8")
                if PREFIX + key in given
            ]
        if self.up == self.down == "none":
            extra = sorted(set(given) - {PREFIX + "up", PREFIX + "down"})
            if extra:
                problems.append(f"{', '.join(extra)} given but nothing is compressed")
            return problems
        if SecureAggregationSettings.from_run_config(run_config) is not None:
            problems.append(
                "compression does not work with secure-aggregation: SecAgg+ sums masked "
                "vectors of one fixed layout, and compressed updates carry per-participant "
                "scales or indices that cannot be summed under masks; decoding one would "
                "show the server the update that SecAgg+ hides. Drop compression.* or "
                "secure-aggregation"
            )
        from ..asynchronous import AsyncSettings  # imported here: it imports flwr's loop

        asynchronous = AsyncSettings.from_run_config(run_config)
        if asynchronous is not None:
            problems.append(
                f"compression does not work with {asynchronous.strategy} yet: the "
                "asynchronous loop sends and aggregates without the compression wrapper; use "
                "a synchronous strategy or drop compression.*"
            )
        central = CentralDPSettings.from_run_config(run_config)
        if central is not None and central.client_side and self.up != "none":
            problems.append(
                f"{PREFIX}up does not work with central-dp {central.mode!r}: a compressed "
                "message (with error feedback) can carry more than the clipping norm, which "
                "the server's noise would not cover; use a server-side central-dp mode or "
                f"{PREFIX}up = 'none'"
            )
        return problems

    def uplink(self) -> Compressor:
        """The participants' compressor."""
        if self.up == "topk":
            return build_compressor(
                "topk",
                fraction=self.topk_fraction,
                quantize_values=self.topk_q8,
                block_size=self.block_size,
            )
        if self.up == "q8":
            return build_compressor(
                "q8", block_size=self.block_size, stochastic=self.stochastic_rounding
            )
        return build_compressor(self.up)

    def downlink(self) -> Compressor:
        """The server's compressor for the global model (round-to-nearest)."""
        if self.down == "q8":
            return build_compressor("q8", block_size=self.block_size)
        return build_compressor(self.down)

    def describe(self) -> str:
        """One line for a person: ``up topk 1% + feedback, down q8``."""
        up = self.up
        if up == "topk":
            up += f" {self.topk_fraction:.3g}" + (" (q8 values)" if self.topk_q8 else "")
        if up != "none" and self.error_feedback:
            up += " + error feedback"
        return f"up {up}, down {self.down}"


def _number(given: Mapping[str, Any], key: str, default: float, problems: list[str]) -> float:
    value = given.get(PREFIX + key, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        problems.append(f"{PREFIX}{key} must be a number, got {value!r}")
        return default
    try:
        return float(value)
    except ValueError:
        problems.append(f"{PREFIX}{key} must be a number, got {value!r}")
        return default


def _flag(given: Mapping[str, Any], key: str, default: bool, problems: list[str]) -> bool:
    value = given.get(PREFIX + key, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    problems.append(f"{PREFIX}{key} must be true or false, got {value!r}")
    return default
