"""What the chaos soak checks at the end, as plain functions of what it collected.

Each check returns a small dict for ``var/bench/chaos.json`` with the counts and, when something
is wrong, the first few offending items, so a failed soak says what went missing.

>>> rounds_check([0, 1, 2, 2, 4], planned=4)["contiguous"]
False
>>> checked = events_check(expected=["a", "b"], in_stream=["a", "a", "c"],
...                        consumed={"metrics": (["a", "c"], ["a"])})
>>> checked["missing_from_stream"], checked["missing_from_consumers"], checked["lost"]
(['b'], {'metrics': ['c']}, 2)
>>> checked["doubled_in_stream"], checked["duplicates"]
(['a'], 1)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from consortium_core.privacy.accounting import composed_epsilon

__all__ = [
    "audit_check",
    "events_check",
    "expected_job_events",
    "privacy_check",
    "rounds_check",
]

SHOWN = 10
"""Offending items listed per check (the counts cover all)."""


def rounds_check(numbers: Sequence[int], *, planned: int) -> dict[str, Any]:
    """Rounds 0..planned stored, each once, in order."""
    counts = Counter(numbers)
    return {
        "planned": planned,
        "stored": len(numbers),
        "contiguous": list(numbers) == list(range(planned + 1)),
        "missing": [n for n in range(planned + 1) if n not in counts][:SHOWN],
        "doubled": sorted(n for n, c in counts.items() if c > 1)[:SHOWN],
    }


def expected_job_events(job_id: str, rounds: int, *, contributions: bool) -> list[str]:
    """Ids of the events a completed job must have published: one ``round_completed`` per
    round (``<job>.round.<n>``, round 0 included) and, when its rounds are scored, one
    ``contributions_scored`` per round from 1."""
    from consortium_core.contracts.events import round_event_id

    expected = [round_event_id(job_id, n) for n in range(rounds + 1)]
    if contributions:
        expected += [f"contributions-{job_id}-{n}"[:64] for n in range(1, rounds + 1)]
    return expected


def events_check(
    *,
    expected: Iterable[str],
    in_stream: Sequence[str],
    consumed: Mapping[str, tuple[Iterable[str], Iterable[str]]],
) -> dict[str, Any]:
    """Events of a job: every expected id in the stream exactly once, and every consumer holds
    what it must (``consumed``: consumer name -> (ids it must have taken, ids it has))."""
    expected = list(expected)
    counts = Counter(in_stream)
    missing = [e for e in expected if e not in counts]
    not_consumed = {name: sorted(set(must) - set(has)) for name, (must, has) in consumed.items()}
    return {
        "expected": len(expected),
        "in_stream": len(in_stream),
        "missing_from_stream": missing[:SHOWN],
        "doubled_in_stream": sorted(e for e, c in counts.items() if c > 1)[:SHOWN],
        "missing_from_consumers": {name: ids[:SHOWN] for name, ids in not_consumed.items()},
        "lost": len(missing) + sum(len(ids) for ids in not_consumed.values()),
        "duplicates": sum(c - 1 for c in counts.values()),
    }


def audit_check(
    *,
    verified: bool,
    records_in_stream: Sequence[str],
    records_chained: Sequence[str],
    exchanges: Iterable[tuple[int, str, str]],
    rounds: Mapping[int, Sequence[str]],
) -> dict[str, Any]:
    """The audit trail: the chain verifies, every published record is chained exactly once,
    and every stored round has an exchange in each direction with each of its participants
    (``exchanges``: (round, participant, direction) of the chained parameter exchanges)."""
    chained = Counter(records_chained)
    unchained = [r for r in dict.fromkeys(records_in_stream) if r not in chained]
    seen = set(exchanges)
    unaudited = [
        (n, p, d)
        for n, participants in sorted(rounds.items())
        if n > 0
        for p in participants
        for d in ("to_participant", "from_participant")
        if (n, p, d) not in seen
    ]
    return {
        "chain_verifies": verified,
        "records_in_stream": len(records_in_stream),
        "records_chained": len(records_chained),
        "unchained": unchained[:SHOWN],
        "chained_twice": sorted(r for r, c in chained.items() if c > 1)[:SHOWN],
        "rounds_without_exchange_record": [list(u) for u in unaudited[:SHOWN]],
        "lost": len(unchained) + len(unaudited),
        "duplicates": sum(c - 1 for c in chained.values()),
    }


def privacy_check(
    report: Mapping[str, Any],
    rounds: Sequence[Mapping[str, Any]],
    *,
    target_epsilon: float | None,
) -> dict[str, Any]:
    """The job's privacy report against its stored rounds: each participant's steps and rounds
    are those of the rounds it took part in (none lost, none counted twice across restarts), its
    epsilon is what the accountant gives for them, and no epsilon exceeds the job's target."""
    accountant = str(report.get("accountant", "rdp"))
    problems: list[str] = []
    history: dict[str, list[tuple[float, float, int]]] = {}
    for r in rounds:
        for participant, metrics in (r.get("participant_metrics") or {}).items():
            if "dp_steps" in metrics:
                history.setdefault(participant, []).append(
                    (
                        float(metrics["dp_noise_multiplier"]),
                        float(metrics["dp_sample_rate"]),
                        int(metrics["dp_steps"]),
                    )
                )
    reported = report.get("participants") or {}
    if set(reported) != set(history):
        problems.append(
            f"participants {sorted(reported)} in the report, {sorted(history)} in rounds"
        )
    largest = 0.0
    for participant, runs in sorted(history.items()):
        entry = reported.get(participant)
        if entry is None:
            continue
        steps = sum(s for _, _, s in runs)
        if entry["steps"] != steps or entry["rounds"] != len(runs):
            problems.append(
                f"{participant}: report {entry['steps']} steps in {entry['rounds']} rounds, "
                f"stored rounds {steps} in {len(runs)}"
            )
        recomputed = composed_epsilon(accountant=accountant, history=runs, delta=entry["delta"])
        if not math.isclose(recomputed, entry["epsilon"], rel_tol=1e-6, abs_tol=1e-9):
            problems.append(f"{participant}: epsilon {entry['epsilon']} != {recomputed}")
        largest = max(largest, recomputed)
    if target_epsilon is not None and largest > target_epsilon * (1 + 1e-9):
        problems.append(f"largest epsilon {largest:.4f} exceeds the target {target_epsilon}")
    return {
        "ok": not problems,
        "accountant": accountant,
        "largest_epsilon": largest,
        "target_epsilon": target_epsilon,
        "participants": len(history),
        "problems": problems[:SHOWN],
    }
