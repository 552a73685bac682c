"""A real job's rounds scored from what the coordinator stored: the starting checkpoint and
each participant's trained model. The coalition of everyone is the round's global model, so its
utility is the accuracy the round reported, and the empty coalition's the previous round's."""

from __future__ import annotations

import asyncio
from itertools import pairwise
from pathlib import Path
from typing import Any

import nats
import pytest
from consortium_contribution.scoring import TaskEvaluator, score_round
from support.contribution import ContributionService
from support.events import job_events
from support.processes import Coordinator, client, running

pytestmark = pytest.mark.integration

TASK = "breast-cancer-logreg"
NAMES = ["shap-0", "shap-1", "shap-2"]


Stored = tuple[dict[str, Any], bytes, dict[str, bytes]]


async def _stored_rounds(nats_url: str, job_id: str) -> tuple[list[Stored], list[dict[str, Any]]]:
    """Each training round's event with its previous checkpoint and its participants' updates,
    and every round_completed event (round 0 first)."""
    events = await job_events(nats_url, job_id, "round_completed")
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    checkpoints = await js.object_store("consortium-checkpoints")
    updates = await js.object_store("consortium-updates")
    rounds = []
    for previous, event in pairwise(events):
        start = (await checkpoints.get(previous["checkpoint"])).data or b""
        stored = {p: (await updates.get(n)).data or b"" for p, n in event["updates"].items()}
        rounds.append((event, start, stored))
    await nc.close()
    return rounds, events


def test_rounds_scored_from_the_stored_updates(
    tmp_path: Path, database_url: str, nats_server
) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    service = ContributionService(
        tmp_path / "contribution.log", database_url=database_url, nats_url=nats_server.url
    )
    clients = [
        client(
            tmp_path / f"{n}.log",
            n,
            nats_server.url,
            task=TASK,
            node_config=f"partition-id={i} num-partitions=3 partition='dirichlet(0.3)'",
        )
        for i, n in enumerate(NAMES)
    ]
    with running(coordinator, service, *clients):
        coordinator.wait_healthy()
        service.wait_ready()
        coordinator.wait_online(NAMES)
        jobs = {}
        for method in ("exact", "none"):
            created = coordinator.http.post(
                "/jobs",
                json={
                    "task": TASK,
                    "rounds": 3,
                    "min_participants": 3,
                    "config": {"contributions": method},
                },
            )
            assert created.status_code == 201, created.text
            jobs[method] = created.json()["id"]
            assert coordinator.wait_job(jobs[method])["status"] == "completed"
        job_id = jobs["exact"]
        served = service.wait_rounds(job_id, 3)
        unscored = service.http.get(f"/jobs/{jobs['none']}/contributions").json()
        assert service.http.get("/jobs/no-such-job/contributions").status_code == 404
        ledger = service.http.get("/ledger").json()
        published = asyncio.run(job_events(nats_server.url, job_id, "contributions_scored"))
        ledger_csv = service.http.get("/ledger.csv")

    rounds, events = asyncio.run(_stored_rounds(nats_server.url, job_id))
    assert [e["round"] for e, _, _ in rounds] == [1, 2, 3]
    evaluator = TaskEvaluator(TASK)
    one_example = 1.0 / evaluator.examples
    for event, start, updates in rounds:
        assert sorted(updates) == NAMES
        exact = score_round(evaluator, start, updates, method="exact")
        previous = events[event["round"] - 1]
        assert exact.result.utility_all == pytest.approx(
            event["metrics"]["accuracy"], abs=one_example
        )
        assert exact.result.utility_none == pytest.approx(
            previous["metrics"]["accuracy"], abs=one_example
        )
        assert sum(exact.values.values()) == pytest.approx(
            exact.result.utility_all - exact.result.utility_none, abs=1e-9
        )
        assert exact.result.evaluations == 2**3
        gtg = score_round(evaluator, start, updates, method="gtg", seed=event["round"])
        assert set(gtg.values) == set(NAMES)
        assert gtg.result.evaluations <= exact.result.evaluations

    # the service scored the same rounds the same way, once each
    assert served["method"] == "exact" and served["available"]
    assert [r["round"] for r in served["rounds"]] == [1, 2, 3]
    for stored_round, (event, _, _) in zip(served["rounds"], rounds, strict=True):
        assert stored_round["scored"] and stored_round["evaluations"] == 8
        assert stored_round["utility_all"] == pytest.approx(
            event["metrics"]["accuracy"], abs=one_example
        )
        assert sum(stored_round["values"].values()) == pytest.approx(
            stored_round["utility_all"] - stored_round["utility_none"], abs=1e-9
        )
    # each scored round is published once on the job's events, with the stored values
    assert [(e["round"], e["scored"]) for e in published] == [(1, True), (2, True), (3, True)]
    for event, stored_round in zip(published, served["rounds"], strict=True):
        assert event["values"] == pytest.approx(stored_round["values"])
    totals = {p["participant_id"]: p["value"] for p in served["participants"]}
    assert set(totals) == set(NAMES)
    ours = [row for row in ledger if row["participant_id"] in NAMES]  # the stream is shared
    assert {row["participant_id"]: row["value"] for row in ours} == pytest.approx(totals)
    assert all(row["jobs"] == 1 and row["rounds"] == 3 for row in ours)
    assert ledger_csv.headers["content-type"].startswith("text/csv")
    assert ledger_csv.text.splitlines()[0] == "participant_id,value,jobs,rounds"
    assert len(ledger_csv.text.splitlines()) == 1 + len(ledger)
    assert unscored["available"] is False and unscored["rounds"] == []
    assert "no contributions" in unscored["reason"]
