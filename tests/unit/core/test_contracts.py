"""Subjects, presence and event contracts."""

from __future__ import annotations

import pytest
from consortium_core import subjects
from consortium_core.contracts.events import JobFailed, RoundCompleted, parse_event
from consortium_core.contracts.presence import Heartbeat, node_id_for
from consortium_core.errors import UnknownNameError
from consortium_core.strategies import STRATEGIES, build_strategy


@pytest.mark.parametrize("bad", ["", "a.b", "a*", "a>", "a b", "-x", "x" * 64])
def test_participant_ids_that_would_break_subjects_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid participant id"):
        subjects.inbox(bad)


def test_subjects_are_confined_to_the_participant() -> None:
    pid = "hospital-3"
    for subject in (subjects.inbox(pid), subjects.reply(pid), subjects.heartbeat(pid)):
        assert subject.startswith(f"consortium.v1.participant.{pid}.")
        assert subjects.participant_from_subject(subject) == pid


def test_node_ids_are_distinct_and_positive() -> None:
    ids = {node_id_for(f"p{i}") for i in range(1000)}
    assert len(ids) == 1000 and all(0 < i < 2**63 for i in ids)


def test_events_round_trip_by_type() -> None:
    event = RoundCompleted(job_id="j", round=1, duration_s=0.5, bytes_sent=1, bytes_received=2)
    assert parse_event(event.model_dump_json()) == event
    assert parse_event(JobFailed(job_id="j", reason="r").model_dump_json()).type == "job_failed"


def test_heartbeat_contract_has_version() -> None:
    beat = Heartbeat(participant_id="p", node_id=1, tasks=["t"], sent_at=0.0)
    assert Heartbeat.model_validate_json(beat.model_dump_json()).v == 1


def test_strategy_registry() -> None:
    assert {"FedAvg", "FedProx", "Krum"} <= set(STRATEGIES)
    strategy = build_strategy("FedProx", min_participants=3, options={"proximal_mu": 0.1})
    assert strategy.min_train_nodes == 3 and strategy.proximal_mu == 0.1
    with pytest.raises(UnknownNameError, match="known: Bulyan"):
        build_strategy("FedNope", min_participants=1)
