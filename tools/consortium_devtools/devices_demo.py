"""``make demo SCENARIO=devices``: the cross-device scenario.

Devices hold LEAF's Synthetic(1, 1) data (task ``devices-logreg``: every device its own label
distribution and decision rule, so the data are far from IID).

1. **A virtual fleet** (``DEMO_DEVICES``, 2,000 by default) in this process: the task's real
   ServerApp and ClientApp over :class:`~consortium_tasks.virtual.VirtualGrid`, FedProx with 5%
   of the devices sampled each round, once with uncompressed updates and once with top-k uploads
   (error feedback) and 8-bit downloads, to show what compression costs in accuracy.
2. **Real devices on the platform**: eight ``consortium-client`` processes (mutual TLS, their own
   certificates), two of them stragglers (2 s slower to train, the ``straggler-delay-s`` test
   knob). Job S: FedProx, half of the devices sampled each round with a minimum participation
   guarantee, compressed both ways, and personalization at the end. Job A: FedBuff, the
   asynchronous strategy, with the same stragglers. Both show live in the console.

The report (``var/demo/report.json``) holds the fleet's figures, both jobs' accuracy, time and
bytes per round, and each device's personalized against global accuracy.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import httpx

from .demo_support import DemoError, follow, pause_for_the_console, say
from .enrollment import OperatorSession
from .hospitals import start_hospitals, wait_online
from .platform import Platform

__all__ = ["run_devices"]

TASK = "devices-logreg"
DEVICES = 8
STRAGGLERS = {6: "straggler-delay-s=2", 7: "straggler-delay-s=2"}
SEED = 42
FLEET_ROUNDS = 15
FEDPROX = {"strategy.proximal_mu": 0.01}
COMPRESSION = {"compression.up": "topk", "compression.topk-fraction": 0.1, "compression.down": "q8"}
JOB_S_ROUNDS = 20
JOB_S: dict[str, Any] = {
    **FEDPROX,
    "local-epochs": 5,
    **COMPRESSION,
    "fraction-train": 0.5,
    "fraction-evaluate": 0.0,
    "min-participation-every": 3,
    "personalize-epochs": 3,
}
JOB_A_ROUNDS = 40
JOB_A: dict[str, Any] = {
    "local-epochs": 5,
    "async.buffer-size": 3,
    "async.concurrency": 6,
    "async.staleness": "polynomial",
}


def run_devices(platform: Platform, endpoints: dict[str, Any], report_path: Path) -> dict[str, Any]:
    """Run the cross-device scenario end to end and return the report."""
    started = time.monotonic()
    password_file = platform.root / str(endpoints["operator"]["password_file"])
    ca_cert = platform.root / str(endpoints["ca_cert"])
    operator = OperatorSession(str(endpoints["gateway_url"]), ca_cert, password_file)
    api = operator.http
    say(
        f"Enrolling and starting {DEVICES} devices (separate processes, mutual TLS), "
        f"{len(STRAGGLERS)} of them stragglers"
    )
    names = start_hospitals(
        platform,
        endpoints,
        operator,
        task=TASK,
        count=DEVICES,
        partition="own",
        seed=SEED,
        kind="device",
        node_options=STRAGGLERS,
    )
    fleet = _virtual_fleet(int(os.environ.get("DEMO_DEVICES", "2000")))
    wait_online(api, names, timeout_s=120)
    say(f"The console: {endpoints['console_url']}")
    pause_for_the_console(endpoints)
    say(
        f"Job S: FedProx on the {DEVICES} devices, half of them sampled each round (each one at "
        "least every 3 rounds), top-k uploads and 8-bit downloads, personalization at the end"
    )
    job_s = _run_job(
        api, endpoints, "devices demo, job S (FedProx)", "FedProx", JOB_S_ROUNDS, JOB_S
    )
    job_s["personalization"] = _personalization(api, job_s["job_id"])
    say(f"Job A: FedBuff (asynchronous, buffer of 3) with the same {len(STRAGGLERS)} stragglers")
    job_a = _run_job(
        api, endpoints, "devices demo, job A (FedBuff)", "FedBuff", JOB_A_ROUNDS, JOB_A
    )
    report: dict[str, Any] = {
        "job_id": job_s["job_id"],
        "console_url": f"{endpoints['console_url']}jobs/{job_s['job_id']}",
        "scenario": "devices",
        "dataset": "leaf-synthetic(1,1)",
        "partition": "one device per participant (its own distribution)",
        "participants": DEVICES,
        "rounds": job_s["rounds"],
        "strategy": "FedProx",
        "task": TASK,
        "accuracy": {
            "federated": job_s["accuracy"],
            "federated_per_round": job_s["accuracy_per_round"],
            "test_set": "200 devices never trained on",
        },
        "timings": {"total_s": time.monotonic() - started, "round_s": job_s["round_s"]},
        "bytes": {
            "sent_per_round": job_s["bytes_sent_per_round"],
            "received_per_round": job_s["bytes_received_per_round"],
        },
        "virtual_fleet": fleet,
        "jobs": {"fedprox_compressed": job_s, "fedbuff_async": job_a},
        "personalization": job_s["personalization"],
    }
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    return report


class QuietFlower(logging.Filter):
    """Lets only Flower's warnings and errors through (a ServerApp resets its logger's level)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


def _virtual_fleet(devices: int) -> dict[str, Any]:
    """FedProx over ``devices`` virtual devices, without and with compression."""
    sampled = max(1, round(devices * 0.05))
    say(
        f"A virtual fleet of {devices} devices in this process: {FLEET_ROUNDS} rounds of "
        f"FedProx, {sampled} devices sampled each round, without and with compression"
    )
    runs = {}
    flower_log = logging.getLogger("flwr")
    quiet = QuietFlower()
    flower_log.addFilter(quiet)  # Flower logs every round of every run otherwise
    try:
        for label, extra in (("uncompressed", {}), ("compressed", COMPRESSION)):
            runs[label] = _fleet_run(devices, sampled, extra)
            say(
                f"  {label:<12} accuracy {runs[label]['accuracy']:.3f} in "
                f"{runs[label]['seconds']:.1f} s"
            )
    finally:
        flower_log.removeFilter(quiet)
    return {
        "devices": devices,
        "sampled_per_round": sampled,
        "rounds": FLEET_ROUNDS,
        "strategy": "FedProx",
        "compression": COMPRESSION,
        "runs": runs,
        "accuracy_cost_of_compression": runs["uncompressed"]["accuracy"]
        - runs["compressed"]["accuracy"],
    }


def _fleet_run(devices: int, sampled: int, extra: dict[str, Any]) -> dict[str, Any]:
    from consortium_tasks.virtual import simulate_virtual

    result = simulate_virtual(
        TASK,
        num_clients=devices,
        seed=SEED,
        run_config={
            "num-server-rounds": FLEET_ROUNDS,
            "strategy": "FedProx",
            "fraction-train": sampled / devices,
            "fraction-evaluate": 0.0,
            **FEDPROX,
            **extra,
        },
    )
    accuracy = [result.round_metrics[r]["accuracy"] for r in sorted(result.round_metrics)]
    return {
        "accuracy": accuracy[-1],
        "accuracy_per_round": accuracy[1:],
        "seconds": result.seconds,
        "client_calls": result.calls,
        "failures": result.failures,
    }


def _run_job(
    api: httpx.Client,
    endpoints: dict[str, Any],
    name: str,
    strategy: str,
    rounds: int,
    config: dict[str, Any],
) -> dict[str, Any]:
    created = api.post(
        "/jobs",
        json={
            "name": name,
            "task": TASK,
            "strategy": strategy,
            "rounds": rounds,
            "min_participants": 2,
            "config": config,
        },
    )
    if created.status_code != 201:
        raise DemoError(f"{name} refused: {created.text}")
    job_id = created.json()["id"]
    say(f"  watch it live in the console: {endpoints['console_url']}jobs/{job_id}")
    t0 = time.monotonic()
    job = follow(api, job_id, rounds, timeout_s=900)
    if job["status"] != "completed":
        raise DemoError(f"{name} {job_id} {job['status']}: {job['reason']}")
    history = [r for r in api.get(f"/jobs/{job_id}/rounds").json() if r["number"] > 0]
    seen: dict[str, int] = {}
    for r in history:
        for who in r["participants"]:
            seen[who] = seen.get(who, 0) + 1
    return {
        "job_id": job_id,
        "strategy": strategy,
        "config": config,
        "rounds": len(history),
        "accuracy": history[-1]["metrics"]["accuracy"],
        "accuracy_per_round": [r["metrics"]["accuracy"] for r in history],
        "wall_s": time.monotonic() - t0,
        "round_s": [r["duration_s"] for r in history],
        "bytes_sent_per_round": [r["bytes_sent"] for r in history],
        "bytes_received_per_round": [r["bytes_received"] for r in history],
        "rounds_per_device": dict(sorted(seen.items())),
    }


def _personalization(api: httpx.Client, job_id: str) -> dict[str, Any]:
    found = api.get(f"/jobs/{job_id}/personalization")
    if found.status_code != 200:
        raise DemoError(f"job {job_id}: no personalization report: {found.text}")
    return found.json()  # type: ignore[no-any-return]


def print_devices_table(report: dict[str, Any]) -> None:
    """The results a person reads."""
    fleet = report["virtual_fleet"]
    say("")
    say(
        f"virtual fleet: {fleet['devices']} devices, {fleet['sampled_per_round']} per round, "
        f"{fleet['rounds']} rounds of FedProx"
    )
    for label, run in fleet["runs"].items():
        say(f"  {label:<12} accuracy {run['accuracy']:.3f}  ({run['seconds']:.1f} s)")
    say(f"  accuracy cost of compression: {fleet['accuracy_cost_of_compression']:+.3f}")
    say("")
    say(f"{'job':<34} rounds  accuracy  time (s)  MB sent  MB received")
    for label, job in report["jobs"].items():
        say(
            f"{label + ' ' + job['job_id'][:8]:<34} {job['rounds']:>6}  {job['accuracy']:>8.3f}"
            f"  {job['wall_s']:>8.1f}  {sum(job['bytes_sent_per_round']) / 1e6:>7.3f}"
            f"  {sum(job['bytes_received_per_round']) / 1e6:>11.3f}"
        )
    personal = report["personalization"]
    if personal.get("available"):
        say("")
        say("device      global  personalized  (accuracy on the device's own held-out data)")
        for who, entry in sorted(personal["participants"].items()):
            say(
                f"{who:<10}  {entry['global_accuracy']:>6.3f}  "
                f"{entry['personalized_accuracy']:>12.3f}"
            )
