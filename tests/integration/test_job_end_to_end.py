"""A real federated job: coordinator service, 3 client processes, real Postgres and NATS."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import nats
import numpy as np
import pytest
from consortium_core.contracts.audit import AUDIT_WILDCARD, AuditRecord
from safetensors.numpy import load
from support.events import job_events
from support.processes import Coordinator, client, running

pytestmark = pytest.mark.integration


async def _audit_for(nats_url: str, job_id: str) -> list[AuditRecord]:
    nc = await nats.connect(nats_url)
    sub = await nc.jetstream().subscribe(AUDIT_WILDCARD, ordered_consumer=True)
    records = []
    try:
        while True:
            record = AuditRecord.model_validate_json((await sub.next_msg(timeout=2)).data)
            if record.data.get("job_id") == job_id:
                records.append(record)
    except nats.errors.TimeoutError:
        pass
    await nc.close()
    return records


def test_three_clients_train_digits(tmp_path: Path, database_url: str, nats_server) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    clients = [
        client(
            tmp_path / f"c{i}.log",
            f"e2e-{i}",
            nats_server.url,
            node_config=f"partition-id={i} num-partitions=3",
        )
        for i in range(3)
    ]
    with running(coordinator, *clients):
        coordinator.wait_healthy()
        coordinator.wait_online([f"e2e-{i}" for i in range(3)])
        created = coordinator.http.post(
            "/jobs",
            json={
                "task": "digits-cnn",
                "rounds": 3,
                "min_participants": 3,
                "name": "e2e",
                "config": {"local-epochs": 2},
            },
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        job = coordinator.wait_job(job_id)
        assert job["status"] == "completed", job
        assert job["participants"] == ["e2e-0", "e2e-1", "e2e-2"]

        rounds = coordinator.http.get(f"/jobs/{job_id}/rounds").json()
        assert [r["number"] for r in rounds] == [0, 1, 2, 3]
        assert rounds[-1]["metrics"]["accuracy"] > rounds[0]["metrics"]["accuracy"] + 0.3
        for r in rounds[1:]:
            assert r["participants"] == ["e2e-0", "e2e-1", "e2e-2"] and r["failures"] == {}
            assert r["bytes_sent"] > 0 and r["bytes_received"] > 0 and r["duration_s"] > 0

        model = coordinator.http.get(f"/jobs/{job_id}/model")
        assert model.status_code == 200
        assert model.headers["x-consortium-round"] == "3"
        tensors = load(model.content)
        assert tensors and all(np.isfinite(t).all() for t in tensors.values())

        listed = coordinator.http.get("/jobs", params={"status": "completed"}).json()
        assert job_id in [j["id"] for j in listed]

    types = [e["type"] for e in asyncio.run(job_events(nats_server.url, job_id))]
    assert types == ["job_created", "job_started", *["round_completed"] * 4, "job_finished"]
    assert "refused" not in coordinator.output()
    audit = asyncio.run(_audit_for(nats_server.url, job_id))
    assert audit[0].kind == "job_created"
    exchanges = [r.data for r in audit if r.kind == "parameter_exchange"]
    # 3 rounds x 3 participants x (train, evaluate) x (to, from), then the membership audit
    # of the final model: 3 participants x (to, from)
    assert len(exchanges) == 36 + 6
    assert {e["round"] for e in exchanges} == {1, 2, 3}
    assert sum(e["message_type"] == "query.membership" for e in exchanges) == 6
    assert all(len(e["digest"]) == 64 and e["bytes"] > 0 for e in exchanges)
    sent = [e for e in exchanges if e["direction"] == "to_participant"]
    assert {e["participant_id"] for e in sent} == {"e2e-0", "e2e-1", "e2e-2"}
    assert json.loads(created.text)["run_config"]["num-server-rounds"] == 3


def test_bad_requests_get_clear_problems(tmp_path: Path, database_url: str, nats_server) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    with running(coordinator):
        coordinator.wait_healthy()
        http = coordinator.http
        r = http.post("/jobs", json={"task": "no-such-task"})
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["known"] == [
            "breast-cancer-logreg",
            "devices-logreg",
            "digits-cnn",
            "digits-private",
            "fraud-vertical",
        ]
        r = http.post(
            "/jobs", json={"task": "fraud-vertical", "config": {"dp-noise-multiplier": 1}}
        )
        assert r.status_code == 422 and "does not apply to a vertical job" in r.json()["detail"]
        r = http.post("/jobs", json={"task": "digits-cnn", "strategy": "FedMagic"})
        assert r.status_code == 422 and "FedAvg" in r.json()["detail"]
        r = http.post("/jobs", json={"task": "apps.stock_flower_app:server_app"})
        assert r.status_code == 422 and "client_task" in r.json()["detail"]
        r = http.post("/jobs", json={"task": "nowhere.module:app", "client_task": "x:y"})
        assert r.status_code == 422 and "nowhere" in r.json()["detail"]
        r = http.post("/jobs", json={"task": "digits-cnn", "rounds": 0})
        assert r.status_code == 422 and "rounds" in r.json()["detail"]
        r = http.post("/jobs", json={"task": "digits-cnn", "surprise": 1})
        assert r.status_code == 422
        secure_and_scored = {"secure-aggregation": True, "contributions": "gtg"}
        r = http.post("/jobs", json={"task": "digits-cnn", "config": secure_and_scored})
        assert r.status_code == 422 and "secure aggregation hides" in r.json()["detail"]
        r = http.post("/jobs", json={"task": "digits-cnn", "config": {"contributions": "magic"}})
        assert r.status_code == 422 and "gtg" in r.json()["detail"]
        bulyan = {"task": "digits-cnn", "strategy": "Bulyan", "min_participants": 5}
        r = http.post("/jobs", json={**bulyan, "config": {"strategy.num_malicious_nodes": 1}})
        assert r.status_code == 422 and "4f+3 = 7" in r.json()["detail"]
        r = http.post("/jobs", json={"task": "digits-cnn", "config": {"strategy.proximal_mu": 1}})
        assert r.status_code == 422 and "weighted_by_key" in r.json()["detail"]
        r = http.post("/jobs", json={"task": "digits-cnn", "config": {"weighting": "vibes"}})
        assert r.status_code == 422 and "quality" in r.json()["detail"]
        scored_and_compressed = {"compression.up": "q8", "contributions": "gtg"}
        r = http.post("/jobs", json={"task": "digits-cnn", "config": scored_and_compressed})
        assert r.status_code == 422 and "compression.up" in r.json()["detail"]
        assert http.get("/jobs/0000").status_code == 404
        assert http.post("/jobs/0000/stop").status_code == 404


def test_dp_sgd_job_records_each_participants_spend(
    tmp_path: Path, database_url: str, nats_server
) -> None:
    from consortium_core.privacy import epsilon

    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    names = ["dp-0", "dp-1"]
    clients = [
        client(
            tmp_path / f"{n}.log",
            n,
            nats_server.url,
            node_config=f"partition-id={i} num-partitions=2",
        )
        for i, n in enumerate(names)
    ]
    with running(coordinator, *clients):
        coordinator.wait_healthy()
        coordinator.wait_online(names)
        created = coordinator.http.post(
            "/jobs",
            json={
                "task": "digits-cnn",
                "rounds": 2,
                "min_participants": 2,
                "config": {"local-epochs": 1, "dp-noise-multiplier": 1.0, "dp-delta": 1e-5},
            },
        )
        job, during = _wait_job_scraping(coordinator, created.json()["id"])
        assert job["status"] == "completed", job
        rounds = coordinator.http.get(f"/jobs/{job['id']}/rounds").json()
        scraped = httpx.get(coordinator.url + "/metrics")
    _check_prometheus_metrics(scraped, job["id"], names, rounds)
    _check_running_job_metrics(during, job["id"], names, rounds)
    for r in rounds[1:]:
        assert sorted(r["participant_metrics"]) == names
        for spend in r["participant_metrics"].values():
            assert spend["dp_noise_multiplier"] == 1.0 and spend["dp_steps"] > 0
            recomputed = epsilon(
                accountant="rdp",
                noise_multiplier=spend["dp_noise_multiplier"],
                sample_rate=spend["dp_sample_rate"],
                steps=int(spend["dp_steps"]),
                delta=spend["dp_delta"],
            )
            assert recomputed == pytest.approx(spend["dp_epsilon_rdp"], rel=0.01)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(text: str) -> Samples:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _wait_job_scraping(
    coordinator: Coordinator, job_id: str, timeout: float = 300
) -> tuple[dict, list[Samples]]:
    """Wait for the job to end, scraping /metrics meanwhile: (the job, the scrapes taken while
    it ran)."""
    import time

    deadline = time.monotonic() + timeout
    scrapes: list[Samples] = []
    while time.monotonic() < deadline:
        samples = _samples(httpx.get(coordinator.url + "/metrics").text)
        job = coordinator.http.get(f"/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed", "stopped"):
            return job, scrapes
        if job["status"] == "running":
            scrapes.append(samples)
        time.sleep(0.1)
    raise RuntimeError(f"job {job_id} did not finish:\n{coordinator.output()[-3000:]}")


def _check_running_job_metrics(
    scrapes: list[Samples], job_id: str, names: list[str], rounds: list[dict]
) -> None:
    """While the job ran, its per-job series matched the round they describe: the accuracy the
    job API recorded for that round, each participant's epsilon composed over rounds so far."""
    from consortium_core.privacy import composed_epsilon

    job = (("job_id", job_id),)
    trained = [s for s in scrapes if s.get(("consortium_job_round", job), 0) >= 1]
    assert trained, "no scrape while the job ran after its first round"
    for samples in trained:
        number = int(samples[("consortium_job_round", job)])
        assert samples[("consortium_job_rounds_planned", job)] == len(rounds) - 1
        assert samples[("consortium_job_accuracy", job)] == rounds[number]["metrics"]["accuracy"]
        assert samples[("consortium_job_loss", job)] == rounds[number]["metrics"]["loss"]
        assert samples[("consortium_job_last_round_timestamp_seconds", job)] > 1.6e9
        assert ("consortium_privacy_epsilon_budget", job) not in samples  # no budget set
        for name in names:
            history = [
                (m["dp_noise_multiplier"], m["dp_sample_rate"], int(m["dp_steps"]))
                for m in (r["participant_metrics"][name] for r in rounds[1 : number + 1])
            ]
            key = ("consortium_privacy_epsilon_spent", (*job, ("participant", name)))
            expected = composed_epsilon(accountant="rdp", history=history, delta=1e-5)
            assert samples[key] == pytest.approx(expected)


def _check_prometheus_metrics(
    scraped: httpx.Response, job_id: str, names: list[str], rounds: list[dict]
) -> None:
    """After the job, the coordinator's /metrics agree with what the job API recorded, and
    nothing labelled with the job's id is left."""
    assert scraped.status_code == 200
    samples = _samples(scraped.text)
    assert samples[("consortium_participants_online", ())] == len(names)
    assert samples[("consortium_rounds_total", (("task", "digits-cnn"),))] == 2
    assert samples[("consortium_round_duration_seconds_count", (("task", "digits-cnn"),))] == 2
    assert samples[("consortium_bytes_sent_total", ())] == sum(r["bytes_sent"] for r in rounds[1:])
    assert samples[("consortium_jobs_created_total", ())] == 1
    assert samples[("consortium_jobs_running", ())] == 0
    assert samples[("consortium_jobs_finished_total", (("status", "completed"),))] == 1
    created = (
        ("method", "POST"),
        ("route", "/api/v1/jobs"),
        ("service", "coordinator"),
        ("status", "201"),
    )
    assert samples[("consortium_http_requests_total", created)] == 1
    assert [key for key in samples if ("job_id", job_id) in key[1]] == []


def test_job_stops_before_the_round_that_would_exceed_its_privacy_budget(
    tmp_path: Path, database_url: str, nats_server
) -> None:
    from consortium_core.privacy import composed_epsilon

    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    names = ["budget-0", "budget-1"]
    clients = [
        client(
            tmp_path / f"{n}.log",
            n,
            nats_server.url,
            node_config=f"partition-id={i} num-partitions=2",
        )
        for i, n in enumerate(names)
    ]
    budget = 2.3
    with running(coordinator, *clients):
        coordinator.wait_healthy()
        r = coordinator.http.post(
            "/jobs", json={"task": "digits-cnn", "config": {"privacy-budget-epsilon": 1.0}}
        )
        assert r.status_code == 422 and "needs DP-SGD" in r.text
        coordinator.wait_online(names)
        created = coordinator.http.post(
            "/jobs",
            json={
                "task": "digits-cnn",
                "rounds": 8,
                "min_participants": 2,
                "config": {
                    "local-epochs": 1,
                    "dp-noise-multiplier": 1.0,
                    "privacy-budget-epsilon": budget,
                },
            },
        )
        assert created.status_code == 201, created.text
        job, during = _wait_job_scraping(coordinator, created.json()["id"])
        assert job["status"] == "completed", job
        assert job["reason"].startswith("privacy budget reached after round"), job
        budgets = {
            s.get(("consortium_privacy_epsilon_budget", (("job_id", job["id"]),))) for s in during
        }
        assert budgets - {None} == {budget}
        rounds = coordinator.http.get(f"/jobs/{job['id']}/rounds").json()[1:]
        assert 1 <= len(rounds) < 8
        for name in names:
            history = [
                (m["dp_noise_multiplier"], m["dp_sample_rate"], int(m["dp_steps"]))
                for m in (r["participant_metrics"][name] for r in rounds)
            ]
            spent = composed_epsilon(accountant="rdp", history=history, delta=1e-5)
            assert spent <= budget
        # the round it skipped would have taken someone past the budget
        over = [
            composed_epsilon(
                accountant="rdp",
                history=[
                    (m["dp_noise_multiplier"], m["dp_sample_rate"], int(m["dp_steps"]))
                    for m in (r["participant_metrics"][name] for r in [*rounds, rounds[-1]])
                ],
                delta=1e-5,
            )
            for name in names
        ]
        assert max(over) > budget
        _check_privacy_report(coordinator, job["id"], names, budget)


def _check_privacy_report(coordinator: Coordinator, job_id: str, names: list[str], budget: float):
    """The report's epsilons match Opacus run by hand on its inputs (within 1%)."""
    from opacus.accountants import PRVAccountant, RDPAccountant

    report = coordinator.http.get(f"/jobs/{job_id}/privacy-report").json()
    assert report["dp"] is True and report["secure_aggregation"] is False
    assert report["budget"]["epsilon"] == budget and report["budget"]["stopped_early"] is True
    assert sorted(report["participants"]) == names
    for entry in report["participants"].values():
        for name, accountant in (
            ("epsilon_prv", PRVAccountant()),
            ("epsilon_rdp", RDPAccountant()),
        ):
            accountant.history = [tuple(row) for row in entry["history"]]
            recomputed = accountant.get_epsilon(delta=entry["delta"])
            assert abs(entry[name] - recomputed) <= 0.01 * recomputed
        assert entry["epsilon"] == entry["epsilon_prv"] <= budget
    assert report["epsilon_max"] == max(p["epsilon"] for p in report["participants"].values())
    mia = report["membership_inference"]
    assert sorted(mia["participants"]) == names and 0.0 <= mia["auc_max"] <= 1.0
    page = coordinator.http.get(f"/jobs/{job_id}/privacy-report.html")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert all(name in page.text for name in names) and "Privacy report" in page.text


async def _update(nats_url: str, name: str) -> bytes:
    nc = await nats.connect(nats_url)
    try:
        store = await nc.jetstream().object_store("consortium-updates")
        return (await store.get(name)).data or b""
    finally:
        await nc.close()


def test_each_participants_update_is_kept_for_contributions(
    tmp_path: Path, database_url: str, nats_server
) -> None:
    """A job whose server may see updates keeps each participant's trained model per round
    (the contribution service's input); a job that asks for none keeps nothing."""
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    names = ["upd-0", "upd-1"]
    clients = [
        client(
            tmp_path / f"{n}.log",
            n,
            nats_server.url,
            task="breast-cancer-logreg",
            node_config=f"partition-id={i} num-partitions=2",
        )
        for i, n in enumerate(names)
    ]
    with running(coordinator, *clients):
        coordinator.wait_healthy()
        coordinator.wait_online(names)
        jobs = {}
        for contributions in ("gtg", "none"):
            created = coordinator.http.post(
                "/jobs",
                json={
                    "task": "breast-cancer-logreg",
                    "rounds": 2,
                    "min_participants": 2,
                    "config": {"contributions": contributions},
                },
            )
            assert created.status_code == 201, created.text
            jobs[contributions] = created.json()["id"]
            job = coordinator.wait_job(jobs[contributions])
            assert job["status"] == "completed", (job, coordinator.output()[-3000:])

    scored = asyncio.run(job_events(nats_server.url, jobs["gtg"], "round_completed"))
    assert [e["round"] for e in scored] == [0, 1, 2]
    assert scored[0]["updates"] == {}  # round 0 only evaluates the initial model
    for event in scored[1:]:
        assert sorted(event["updates"]) == names
        for participant, name in event["updates"].items():
            assert name == f"{jobs['gtg']}/round-{event['round']}/{participant}.safetensors"
            data = asyncio.run(_update(nats_server.url, name))
            tensors = load(data)
            assert tensors and all(np.isfinite(t).all() for t in tensors.values())
            header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
            examples = event["participant_metrics"][participant]["num-examples"]
            assert header["__metadata__"]["num-examples"] == str(int(examples)) != "0"
    unscored = asyncio.run(job_events(nats_server.url, jobs["none"], "round_completed"))
    assert [e["updates"] for e in unscored] == [{}, {}, {}]
