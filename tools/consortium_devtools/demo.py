"""``make demo``: the medical scenario on a running platform (``make up`` first);
``SCENARIO=devices`` runs the cross-device one (:mod:`consortium_devtools.devices_demo`),
``SCENARIO=fraud`` the vertical one (:mod:`consortium_devtools.fraud_demo`).

Five simulated hospitals run as separate ``consortium-client`` processes, each on its own
Dirichlet(0.5) label-skewed share of scikit-learn's digits. Job A trains the shared model with
DP-SGD on every hospital and SecAgg+ (the server sees only the sum of the masked updates); the
same model is also trained centrally and by each hospital alone without DP, all scored on a test
set no participant trains on. The results table is printed and ``var/demo/report.json`` written,
with the job's privacy report (each hospital's epsilon and the inputs to recompute it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from .demo_support import DemoError, follow, pause_for_the_console, say
from .devices_demo import print_devices_table, run_devices
from .enrollment import OperatorSession
from .fraud_demo import print_fraud_table, run_fraud
from .hospitals import HospitalsError, start_hospitals, wait_online
from .platform import Platform

__all__ = ["main"]

SCENARIOS_LATER: dict[str, str] = {}


PRIVATE_TASK = "digits-private"
JOB_A_PRIVACY: dict[str, Any] = {
    "dp-target-epsilon": 8.0,
    "dp-accountant": "prv",
    "secure-aggregation": True,
}
"""Job A of the medical demo: DP-SGD on every hospital (each one's epsilon over the whole job
at most 8) and SecAgg+, on the task's recipe (see docs/privacy.md)."""


def run_medical(platform: Platform, endpoints: dict[str, Any], report_path: Path) -> dict[str, Any]:
    """Run the medical scenario end to end and return the report."""
    from consortium_tasks.baselines import train_centralized, train_local_only
    from consortium_tasks.digits_private.task import PRIVATE_RUN_CONFIG
    from consortium_tasks.registry import get_task

    participants, seed, partition = 5, 42, "dirichlet(0.5)"
    spec = get_task(PRIVATE_TASK)
    config = {**PRIVATE_RUN_CONFIG, **JOB_A_PRIVACY}
    rounds = int(config.pop("num-server-rounds"))
    password_file = platform.root / str(endpoints["operator"]["password_file"])
    ca_cert = platform.root / str(endpoints["ca_cert"])
    operator = OperatorSession(str(endpoints["gateway_url"]), ca_cert, password_file)
    api = operator.http
    started = time.monotonic()

    say(
        f"Enrolling and starting {participants} hospitals (separate processes, mutual TLS, "
        f"{partition} partitions of digits)"
    )
    names = start_hospitals(
        platform,
        endpoints,
        operator,
        task=spec.name,
        count=participants,
        partition=partition,
        seed=seed,
    )
    say(
        f"The console: {endpoints['console_url']} (sign in as 'admin' with the password in "
        f"{endpoints['operator']['password_file']}; its certificate is from the platform's own "
        f"CA, {endpoints['ca_cert']})"
    )
    say("Training the same model centrally and per hospital alone, without DP (baselines)...")
    epochs = rounds * int(config["local-epochs"])  # as many passes as each hospital makes
    centralized = train_centralized(spec.name, epochs=epochs, seed=seed)
    local_only = train_local_only(
        spec.name,
        num_partitions=participants,
        partitioner_spec=partition,
        seed=seed,
        epochs=epochs,
    )
    wait_online(api, names, timeout_s=120)
    say(
        f"All {participants} hospitals online; job A: {rounds} rounds of FedAvg with DP-SGD on "
        f"every hospital (epsilon <= {config['dp-target-epsilon']} each, delta "
        f"{config['dp-delta']}) and SecAgg+ (the server sees only the sum)"
    )
    pause_for_the_console(endpoints)
    created = api.post(
        "/jobs",
        json={
            "name": "medical demo, job A (DP + SecAgg+)",
            "task": spec.name,
            "strategy": "FedAvg",
            "rounds": rounds,
            "min_participants": participants,
            "config": config,
        },
    )
    if created.status_code != 201:
        raise DemoError(f"job refused: {created.text}")
    job_id = created.json()["id"]
    say(f"  watch it live in the console: {endpoints['console_url']}jobs/{job_id}")
    job = follow(api, job_id, rounds, timeout_s=1200)
    if job["status"] != "completed":
        raise DemoError(f"job {job_id} {job['status']}: {job['reason']}")
    history = [r for r in api.get(f"/jobs/{job_id}/rounds").json() if r["number"] > 0]
    privacy = api.get(f"/jobs/{job_id}/privacy-report").json()
    contributions = _run_job_b(api, endpoints, spec.name, config, rounds, participants)
    names_by_partition = {i: f"hospital-{i + 1}" for i in range(participants)}
    report: dict[str, Any] = {
        "job_id": job_id,
        "console_url": f"{endpoints['console_url']}jobs/{job_id}",
        "scenario": "medical",
        "dataset": spec.dataset,
        "partition": partition,
        "participants": participants,
        "rounds": len(history),
        "strategy": job["strategy"],
        "task": spec.name,
        "job_config": config,
        "accuracy": {
            "centralized": centralized,
            "local_only_mean": sum(local_only.values()) / len(local_only),
            "local_only_per_participant": {names_by_partition[i]: a for i, a in local_only.items()},
            "federated": history[-1]["metrics"]["accuracy"],
            "federated_per_round": [r["metrics"]["accuracy"] for r in history],
            "test_set": "held-out 20% of digits, never in any partition",
            "baselines": f"no DP, {epochs} epochs",
        },
        "privacy": _privacy_block(privacy, endpoints, job_id),
        "contributions": contributions,
        "timings": {
            "total_s": time.monotonic() - started,
            "round_s": [r["duration_s"] for r in history],
        },
        "bytes": {
            "sent_per_round": [r["bytes_sent"] for r in history],
            "received_per_round": [r["bytes_received"] for r in history],
        },
    }
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    return report


def _run_job_b(
    api: httpx.Client,
    endpoints: dict[str, Any],
    task: str,
    job_a_config: dict[str, Any],
    rounds: int,
    participants: int,
) -> dict[str, Any]:
    """Job B: the same training with DP-SGD but without SecAgg+, so that the server sees each
    (noised) update and the contribution service can score every round (GTG-Shapley)."""
    config = {k: v for k, v in job_a_config.items() if k != "secure-aggregation"}
    config["contributions"] = "gtg"
    say(
        f"Job B: the same {rounds} rounds with DP-SGD but without SecAgg+, so that each "
        "hospital's contribution can be scored (Shapley values, GTG-Shapley)"
    )
    created = api.post(
        "/jobs",
        json={
            "name": "medical demo, job B (DP, contributions)",
            "task": task,
            "strategy": "FedAvg",
            "rounds": rounds,
            "min_participants": participants,
            "config": config,
        },
    )
    if created.status_code != 201:
        raise DemoError(f"job B refused: {created.text}")
    job_id = created.json()["id"]
    say(f"  watch it live in the console: {endpoints['console_url']}jobs/{job_id}")
    job = follow(api, job_id, rounds, timeout_s=1200)
    if job["status"] != "completed":
        raise DemoError(f"job B {job_id} {job['status']}: {job['reason']}")
    deadline = time.monotonic() + 120
    while True:
        found = api.get(f"/jobs/{job_id}/contributions")
        if found.status_code == 200 and len(found.json()["rounds"]) >= job["current_round"]:
            scored = found.json()
            break
        if time.monotonic() > deadline:
            raise DemoError(f"job B {job_id}: contributions not ready: {found.text}")
        time.sleep(0.5)
    history = [r for r in api.get(f"/jobs/{job_id}/rounds").json() if r["number"] > 0]
    durations = {r["number"]: r["duration_s"] for r in history}
    scoring = {r["round"]: r["seconds"] for r in scored["rounds"]}
    in_time = all(scoring[n] <= durations.get(n + 1, float("inf")) for n in scoring)
    return {
        "job_id": job_id,
        "method": scored["method"],
        "values": {p["participant_id"]: p["value"] for p in scored["participants"]},
        "shares": {p["participant_id"]: p["share"] for p in scored["participants"]},
        "federated": history[-1]["metrics"]["accuracy"] if history else None,
        "rounds_scored": sum(r["scored"] for r in scored["rounds"]),
        "rounds_truncated": sum(r["truncated"] for r in scored["rounds"]),
        "eval_fraction_mean": (
            sum(r["eval_fraction"] for r in scored["rounds"]) / len(scored["rounds"])
        ),
        "scoring_s_max": max(scoring.values(), default=0.0),
        "round_s_mean": sum(durations.values()) / len(durations) if durations else 0.0,
        "each_round_scored_within_the_next_rounds_time": in_time,
        "not_in_job_a": "job A runs SecAgg+: the server never sees one hospital's update",
    }


def _privacy_block(
    privacy: dict[str, Any], endpoints: dict[str, Any], job_id: str
) -> dict[str, Any]:
    """The report's ``privacy`` block (CONTRACTS.md) from the job's privacy report."""
    keys = ("noise_multiplier", "sample_rate", "steps", "delta", "epsilon", "accountant")
    return {
        "dp": privacy["dp"],
        "secure_aggregation": privacy["secure_aggregation"],
        "delta": privacy["delta"],
        "epsilon_max": privacy["epsilon_max"],
        "accountant": privacy["accountant"],
        "participants": {
            who: {key: entry[key] for key in keys} | {"epsilon_rdp": entry["epsilon_rdp"]}
            for who, entry in privacy["participants"].items()
        },
        "secure_aggregation_settings": privacy["secure_aggregation_settings"],
        "membership_inference": privacy["membership_inference"],
        "report_url": f"{endpoints['gateway_url']}/api/v1/jobs/{job_id}/privacy-report.html",
    }


def print_table(report: dict[str, Any]) -> None:
    """The results table a person reads."""
    acc = report["accuracy"]
    rows = [("centralized (all data in one place)", acc["centralized"])]
    rows += [
        (f"local only: {name}", value) for name, value in acc["local_only_per_participant"].items()
    ]
    rows += [
        ("local only: mean", acc["local_only_mean"]),
        (
            f"federated, DP + SecAgg+ ({report['strategy']}, {report['rounds']} rounds)",
            acc["federated"],
        ),
    ]
    width = max(len(r[0]) for r in rows)
    say("")
    say(f"{'model':<{width}}  test accuracy")
    say(f"{'-' * width}  -------------")
    for label, value in rows:
        say(f"{label:<{width}}  {value:.3f}")
    privacy = report["privacy"]
    mia = privacy["membership_inference"]
    say("")
    say(
        f"privacy: DP-SGD {'on' if privacy['dp'] else 'off'}, SecAgg+ "
        f"{'on' if privacy['secure_aggregation'] else 'off'}; largest epsilon of any hospital "
        f"{privacy['epsilon_max']:.2f} at delta {privacy['delta']:g} ({privacy['accountant']})"
        + (f"; membership-inference AUC {mia['auc_max']:.3f} (0.5 = chance)" if mia else "")
    )
    say(f"privacy report: {privacy['report_url']}")
    _print_contributions(report["contributions"])
    rounds = report["timings"]["round_s"]
    say("")
    say(
        f"job {report['job_id']}: {report['participants']} hospitals, "
        f"median round {sorted(rounds)[len(rounds) // 2]:.2f} s, "
        f"{sum(report['bytes']['sent_per_round']) / 1e6:.1f} MB sent, "
        f"total {report['timings']['total_s']:.1f} s"
    )


def _print_contributions(block: dict[str, Any] | None) -> None:
    if not block:
        return
    say("")
    say(
        f"contributions (job B, DP without SecAgg+, federated accuracy "
        f"{block['federated']:.3f}; {block['method']}, {block['rounds_scored']} rounds scored, "
        f"{block['rounds_truncated']} truncated):"
    )
    say("hospital      Shapley value   share")
    for name, value in sorted(block["values"].items(), key=lambda item: -item[1]):
        share = block["shares"].get(name)
        say(f"{name:<12}  {value:>13.4f}   {'-' if share is None else f'{share:.1%}'}")
    say(
        f"scoring took at most {block['scoring_s_max']:.2f} s per round (rounds "
        f"{block['round_s_mean']:.2f} s); each round scored within the next round's time: "
        f"{'yes' if block['each_round_scored_within_the_next_rounds_time'] else 'no'}"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``consortium-demo``."""
    parser = argparse.ArgumentParser(prog="consortium-demo")
    parser.add_argument(
        "--scenario",
        default=os.environ.get("SCENARIO", "medical"),
        choices=["medical", "devices", "fraud", *SCENARIOS_LATER],
    )
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    platform = Platform(args.root.resolve())
    if args.scenario in SCENARIOS_LATER:
        print(
            f"consortium-demo: {args.scenario}: {SCENARIOS_LATER[args.scenario]}", file=sys.stderr
        )
        return 2
    endpoints_file = platform.run_dir / "endpoints.json"
    if not endpoints_file.exists():
        print("consortium-demo: the platform is not up: run `make up` first", file=sys.stderr)
        return 1
    endpoints = json.loads(endpoints_file.read_text())
    report_path = Path(os.environ.get("DEMO_REPORT", platform.var / "demo" / "report.json"))
    try:
        if args.scenario == "devices":
            report = run_devices(platform, endpoints, report_path)
        elif args.scenario == "fraud":
            report = run_fraud(platform, endpoints, report_path)
        else:
            report = run_medical(platform, endpoints, report_path)
    except (DemoError, HospitalsError, httpx.HTTPError) as exc:
        print(f"consortium-demo: {exc}", file=sys.stderr)
        return 1
    if args.scenario == "devices":
        print_devices_table(report)
    elif args.scenario == "fraud":
        print_fraud_table(report)
    else:
        print_table(report)
    say(f"report: {report_path}")
    if os.environ.get("DEMO_KEEP", "1") == "0":
        platform.down()
        say("platform stopped (DEMO_KEEP=0)")
    else:
        say(
            f"the platform stays up: console {report['console_url']}, API "
            f"{endpoints['gateway_url']}/api/v1/docs (sign in as 'admin' with the password in "
            f"{endpoints['operator']['password_file']}; CA {endpoints['ca_cert']}); "
            "`make down` stops it"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
