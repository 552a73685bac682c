"""Tests of benchmark ``ingest``: its wiring in the CLI, its workload and its table.

The benchmark itself (a nats-server, Postgres and the real service) runs in
``make bench BENCH=ingest``; the consumer it measures is tested in
tests/integration/test_metrics_ingest.py and test_metrics_crash.py.
"""

from __future__ import annotations

from consortium_bench import cli, ingest
from consortium_core.contracts.events import parse_event


def test_ingest_is_registered_and_part_of_all() -> None:
    assert [b.name for b in cli.select("ingest")] == ["ingest"]
    assert "ingest" in [b.name for b in cli.select("all")]
    run, table = cli.BENCHMARKS["ingest"].load()
    assert run is ingest.run and table is ingest.table


def test_the_workload_is_whole_jobs_of_valid_events_with_duplicates() -> None:
    workload = ingest.make_workload(2300, rounds=20, concurrent_jobs=10, duplicate_share=0.05)
    assert len(workload.event_ids) == 2300 and workload.by_type["job_created"] == 100
    assert sum(workload.jobs_by_status.values()) == 100 and workload.rounds == 2000
    assert workload.duplicates == len(workload.messages) - len(workload.event_ids) > 0
    ids = [msg_id for _, _, msg_id in workload.messages]
    assert len(set(ids)) == len(ids), "every message has its own Nats-Msg-Id"
    seen: dict[str, list[str]] = {}
    for subject, payload, msg_id in workload.messages:
        event = parse_event(payload)
        assert subject.endswith(f".{event.job_id}.{event.type}")
        if msg_id == event.id:  # not the duplicate
            seen.setdefault(event.job_id, []).append(event.type)
    for types in seen.values():  # each job's events in their order, however interleaved
        assert types[0] == "job_created" and types[1] == "job_started"
        assert types[-1] in ("job_finished", "job_failed", "job_stopped")


def test_the_table_says_whether_the_goal_is_met() -> None:
    report = {
        "events": 202000,
        "distinct_events": 200000,
        "duplicates": 2000,
        "events_per_s": 12345.6,
        "goal_events_per_s": 20000,
        "goal_met": False,
        "events_measured": 199000.0,
        "seconds": 16.1,
        "from_process_start_events_per_s": 11000.0,
        "from_process_start_s": 18.2,
        "ready_after_s": 2.1,
        "lost": 0,
        "stored_twice": 0,
        "duplicates_skipped": 2000,
        "projections_match": True,
        "batch_size": 1000,
        "cpu_us_per_event": {"consortium_metrics": 100.0, "postgres_backends": 60.0},
        "machine": {"load_avg_1m_at_start": 0.5, "load_avg_1m_at_end": 1.5, "cpus": 2},
    }
    text = ingest.table(report)
    assert "12,346 events/s (goal 20,000: NOT met)" in text
    assert "lost / stored twice" in text and "consortium_metrics 100" in text
