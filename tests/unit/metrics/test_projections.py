"""The projection rules: batch-independent, idempotent, never moving a job backwards."""

from __future__ import annotations

import random

import pytest
from consortium_core.contracts.events import (
    JobCreated,
    JobEvent,
    JobFailed,
    JobFinished,
    JobStarted,
    JobStopped,
    RoundCompleted,
)
from consortium_metrics.projections import (
    PARTICIPANT_COLUMNS,
    ROUND_COLUMNS,
    JobChange,
    fold_jobs,
    merge,
    round_rows,
)


def _round(job: str, number: int, at: float, **extra: object) -> RoundCompleted:
    return RoundCompleted(
        job_id=job,
        round=number,
        duration_s=1.0,
        bytes_sent=10,
        bytes_received=20,
        at=at,
        **extra,  # type: ignore[arg-type]
    )


def _job_story(rng: random.Random, job: str) -> list[JobEvent]:
    """A job's events with some shuffled late and some delivered twice."""
    t = 100.0
    events: list[JobEvent] = [
        JobCreated(job_id=job, task="digits-cnn", strategy="FedAvg", rounds=4, name="n", at=t),
        JobStarted(job_id=job, participants=["a", "b"], at=t + 1),
    ]
    events += [_round(job, r, t + 2 + r) for r in range(rng.randint(0, 4))]
    final = rng.choice(
        [
            JobFinished(job_id=job, rounds=3, metrics={"accuracy": 0.9}, duration_s=9, at=t + 9),
            JobFailed(job_id=job, reason="out of memory", at=t + 9),
            JobStopped(job_id=job, at=t + 9),
        ]
    )
    events.append(final)
    if rng.random() < 0.5:  # a restarted coordinator's late verdict
        events.append(JobFailed(job_id=job, reason="coordinator restarted", at=t + 10))
    for _ in range(rng.randint(0, 3)):  # late and duplicated deliveries
        events.insert(rng.randrange(len(events) + 1), rng.choice(events))
    return events


def _fold_one(events: list[JobEvent]) -> JobChange | None:
    changes = fold_jobs(events)
    return changes[0] if changes else None


def _merge_all(parts: list[list[JobEvent]]) -> JobChange | None:
    state: JobChange | None = None
    for part in parts:
        change = _fold_one(part)
        if change is not None:
            state = change if state is None else merge(state, change)
    return state


@pytest.mark.parametrize("seed", range(200))
def test_any_cut_into_batches_gives_the_same_job(seed: int) -> None:
    rng = random.Random(seed)
    events = _job_story(rng, "j")
    cuts = sorted(rng.sample(range(1, len(events)), k=min(len(events) - 1, rng.randint(1, 4))))
    parts = [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]
    assert _merge_all(parts) == _fold_one(events)


@pytest.mark.parametrize("seed", range(100))
def test_applying_events_again_changes_nothing(seed: int) -> None:
    rng = random.Random(seed)
    events = _job_story(rng, "j")
    stored = _fold_one(events)
    assert stored is not None
    again = rng.sample(events, k=rng.randint(1, len(events)))
    assert merge(stored, _fold_one(again)) == stored  # type: ignore[arg-type]


def test_the_status_never_goes_backwards() -> None:
    finished = JobFinished(job_id="j", rounds=2, metrics={"accuracy": 0.8}, duration_s=5, at=50)
    late = [JobStarted(job_id="j", participants=["x"], at=10), _round("j", 1, 20)]
    change = _fold_one([finished, *late])
    assert change is not None
    assert (change.status, change.finished_at, change.final_metrics) == (
        "completed",
        50,
        {"accuracy": 0.8},
    )
    assert change.started_at == 10 and change.participants == ["x"] and change.last_round == 1


def test_the_first_final_status_wins_with_its_reason() -> None:
    change = _fold_one(
        [
            JobStopped(job_id="j", reason="stopped by operator", at=5),
            JobFailed(job_id="j", reason="coordinator restarted", at=6),
            JobFinished(job_id="j", rounds=1, duration_s=1, at=7),
        ]
    )
    assert change is not None
    assert (change.status, change.reason, change.finished_at, change.duration_s) == (
        "stopped",
        "stopped by operator",
        5,
        None,
    )


def test_a_job_seen_only_through_rounds_is_running_until_created() -> None:
    change = _fold_one([_round("j", 2, 30), _round("j", 1, 20)])
    assert change is not None
    assert (change.status, change.task, change.row_created_at, change.last_round) == (
        "running",
        None,
        20,
        2,
    )
    created = _fold_one([JobCreated(job_id="j", task="t", strategy="s", rounds=3, at=5)])
    assert created is not None
    merged = merge(change, created)
    assert (merged.status, merged.task, merged.row_created_at) == ("running", "t", 5)


def test_jobs_are_folded_separately_in_first_seen_order() -> None:
    changes = fold_jobs([_round("b", 0, 1), _round("a", 0, 2), JobStopped(job_id="b", at=3)])
    assert [(c.job_id, c.status) for c in changes] == [("b", "stopped"), ("a", "running")]


def test_the_newest_event_of_a_round_wins() -> None:
    old = _round("j", 1, 10, id="old", metrics={"accuracy": 0.1})
    new = _round("j", 1, 20, id="new", metrics={"accuracy": 0.2})
    other = _round("j", 2, 15, id="other")
    for order in ([old, new, other], [new, old, other]):
        rows = round_rows(order)
        by_round = {r[1]: dict(zip(ROUND_COLUMNS, r, strict=True)) for r in rows.rounds}
        assert by_round[1]["event_id"] == "new" and by_round[1]["metrics"] == '{"accuracy":0.2}'
        assert set(by_round) == {1, 2}


def test_participant_rows_carry_the_dp_spend_when_reported() -> None:
    event = _round(
        "j",
        3,
        1.0,
        participant_metrics={
            "h1": {
                "loss": 0.5,
                "dp_noise_multiplier": 1.1,
                "dp_sample_rate": 0.02,
                "dp_steps": 50.0,
                "dp_delta": 1e-5,
            },
            "h2": {"loss": 0.7},
        },
        failures={"h3": "went offline"},
    )
    rows = round_rows([event])
    by_participant = {
        r[1]: dict(zip(PARTICIPANT_COLUMNS, r, strict=True)) for r in rows.participants
    }
    assert set(by_participant) == {"h1", "h2"}
    h1, h2 = by_participant["h1"], by_participant["h2"]
    assert (h1["dp_noise_multiplier"], h1["dp_sample_rate"], h1["dp_steps"], h1["dp_delta"]) == (
        1.1,
        0.02,
        50,
        1e-5,
    )
    assert isinstance(h1["dp_steps"], int)
    assert (h2["dp_noise_multiplier"], h2["dp_steps"], h2["metrics"]) == (
        None,
        None,
        '{"loss":0.7}',
    )
    round_row = dict(zip(ROUND_COLUMNS, rows.rounds[0], strict=True))
    assert round_row["failures"] == '{"h3":"went offline"}'
