"""Round timestamps written by benchmark ServerApps, and the per-round wall times derived from them.

A benchmark ServerApp appends one JSON line ``{"round": r, "time": <unix seconds>}`` to its
timing file when round ``r`` ends (round 0: before the first round starts). Round ``r``'s wall
time is then ``time[r] - time[r - 1]``.
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["append_round_time", "read_round_times", "round_durations", "summarize"]


def append_round_time(path: str | Path, server_round: int, when: float | None = None) -> None:
    """Append ``{"round": server_round, "time": when}`` (default: now) as one JSON line."""
    line = json.dumps({"round": server_round, "time": time.time() if when is None else when})
    with Path(path).open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()


def read_round_times(path: str | Path) -> list[float]:
    """Return the timestamps in ``path`` ordered by round (round 0 first).

    Raises ``ValueError`` if a round appears twice or rounds are not 0..R without gaps.
    """
    by_round: dict[int, float] = {}
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        entry = json.loads(raw)
        rnd = int(entry["round"])
        if rnd in by_round:
            raise ValueError(f"{path}: round {rnd} recorded twice")
        by_round[rnd] = float(entry["time"])
    if sorted(by_round) != list(range(len(by_round))):
        raise ValueError(f"{path}: rounds {sorted(by_round)} are not 0..R without gaps")
    return [by_round[r] for r in range(len(by_round))]


def round_durations(timestamps: Sequence[float]) -> list[float]:
    """Per-round wall times: ``[t[1] - t[0], t[2] - t[1], ...]``."""
    return [b - a for a, b in itertools.pairwise(timestamps)]


def summarize(durations: Sequence[float]) -> float:
    """Median of rounds 2..R (round 1 carries start-up costs); round 1 alone if R == 1."""
    if not durations:
        raise ValueError("no rounds were timed")
    steady = durations[1:] or durations
    return float(statistics.median(steady))
