"""``make demo SCENARIO=fraud``: the vertical scenario on a running platform.

A bank (it holds the fraud labels, from chargebacks) and an online shop enroll and run as
separate ``consortium-client`` processes, each on its own columns of a generated card-fraud
population (see docs/vertical.md for the ground truth); they hold only partly the same
customers. The job aligns them by private set intersection and trains a split network; the
report compares its AUC with each party's columns alone and with every column pooled (computed
here, where the generator knows everything; no real federation could).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .demo_support import DemoError, follow, pause_for_the_console, say
from .enrollment import OperatorSession
from .hospitals import start_hospitals, wait_online
from .platform import Platform

__all__ = ["print_fraud_table", "run_fraud"]

TASK = "fraud-vertical"
EPOCHS = 10
PARTIES = {"bank": {"party": "bank"}, "shop": {"party": "shop"}}


def run_fraud(platform: Platform, endpoints: dict[str, Any], report_path: Path) -> dict[str, Any]:
    """Run the fraud scenario end to end and return the report."""
    from consortium_core.vertical import VerticalSettings
    from consortium_tasks.fraud_vertical.baselines import vertical_baselines
    from consortium_tasks.fraud_vertical.data import party_table

    password_file = platform.root / str(endpoints["operator"]["password_file"])
    ca_cert = platform.root / str(endpoints["ca_cert"])
    operator = OperatorSession(str(endpoints["gateway_url"]), ca_cert, password_file)
    api = operator.http
    started = time.monotonic()
    say("Enrolling and starting the bank (labels) and the shop (separate processes, mutual TLS)")
    names = start_hospitals(
        platform,
        endpoints,
        operator,
        task=TASK,
        count=len(PARTIES),
        partition="own",
        seed=0,
        kind="party",
        node_options={i: f"party='{c['party']}'" for i, c in enumerate(PARTIES.values())},
        names=list(PARTIES),
    )
    wait_online(api, names, timeout_s=120)
    say(f"The console: {endpoints['console_url']}")
    pause_for_the_console(endpoints)
    say(
        f"Vertical job: private set intersection, then {EPOCHS} epochs of a split network; "
        "embeddings and gradients cross clipped and noised"
    )
    created = api.post(
        "/jobs",
        json={
            "name": "fraud demo (vertical)",
            "task": TASK,
            "rounds": EPOCHS,
            "min_participants": len(PARTIES),
            "config": {},
        },
    )
    if created.status_code != 201:
        raise DemoError(f"the vertical job was refused: {created.text}")
    job_id = created.json()["id"]
    say(f"  watch it live in the console: {endpoints['console_url']}jobs/{job_id}")
    job = follow(api, job_id, EPOCHS, timeout_s=900)
    if job["status"] != "completed":
        raise DemoError(f"vertical job {job_id} {job['status']}: {job['reason']}")
    rounds = api.get(f"/jobs/{job_id}/rounds").json()
    epochs = [r for r in rounds if r["number"] > 0]
    final = job["metrics"]
    say("Baselines on the same rows and split (only a simulation can compute them)")
    settings = VerticalSettings.from_run_config(job["run_config"])
    baselines = vertical_baselines(list(PARTIES.values()), settings, salt=job_id)
    alone = baselines["alone"]
    held = {name: len(party_table(config).ids) for name, config in PARTIES.items()}
    report: dict[str, Any] = {
        "job_id": job_id,
        "console_url": f"{endpoints['console_url']}jobs/{job_id}",
        "scenario": "fraud",
        "dataset": "generated card fraud (ground truth in docs/vertical.md)",
        "partition": "vertical: the bank holds 6 payment columns and the labels, the shop 6 "
        "catalogue and delivery columns; customers overlap in part",
        "participants": len(PARTIES),
        "rounds": len(epochs),
        "strategy": "split network (vertical)",
        "task": TASK,
        "intersection": {
            "size": int(final["intersection_size"]),
            "expected": baselines["intersection_size"],
            "customers_held": held,
            "train_rows": int(final["train_rows"]),
            "test_rows": int(final["test_rows"]),
            "psi_s": final["psi_s"],
        },
        "auc": {
            "vertical": final["auc"],
            "vertical_per_round": [r["metrics"]["auc"] for r in epochs],
            "alone": alone,
            "label_holder_alone_reported": final["label_holder_alone_auc"],
            "centralized": baselines["centralized"],
            "gain_over_best_party": final["auc"] - max(alone.values()),
            "gain_over_best_party_relative": final["auc"] / max(alone.values()) - 1.0,
        },
        "accuracy": {  # the shared report shape; the fraud scenario's metric is the AUC
            "metric": "auc",
            "federated": final["auc"],
            "federated_per_round": [r["metrics"]["auc"] for r in epochs],
            "local_only_per_participant": alone,
            "local_only_mean": sum(alone.values()) / len(alone),
            "centralized": baselines["centralized"],
        },
        "privacy": {
            "embedding_noise": settings.embedding.noise_multiplier,
            "gradient_noise": settings.gradient.noise_multiplier,
            "embedding_epsilon": final.get("embedding_epsilon"),
            "gradient_epsilon": final.get("gradient_epsilon"),
            "delta": settings.delta,
        },
        "timings": {
            "total_s": time.monotonic() - started,
            "psi_s": final["psi_s"],
            "round_s": [r["duration_s"] for r in epochs],
        },
        "bytes": {
            "sent_per_round": [r["bytes_sent"] for r in rounds],
            "received_per_round": [r["bytes_received"] for r in rounds],
        },
    }
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    return report


def print_fraud_table(report: dict[str, Any]) -> None:
    """The fraud scenario's results, as a short table."""
    auc, inter, privacy = report["auc"], report["intersection"], report["privacy"]
    print()
    print(f"{'fraud detection (test AUC, same rows)':<52} {'AUC':>6}")
    for party, value in auc["alone"].items():
        print(f"  {party + ' alone':<50} {value:>6.3f}")
    print(f"  {'vertical: bank + shop, split network, noised':<50} {auc['vertical']:>6.3f}")
    print(f"  {'centralized: every column pooled (not allowed)':<50} {auc['centralized']:>6.3f}")
    gain, relative = auc["gain_over_best_party"], auc["gain_over_best_party_relative"]
    print(f"  gain over the best party alone: {gain:+.3f} ({relative:+.1%})")
    held = ", ".join(f"{k} {v}" for k, v in inter["customers_held"].items())
    print(
        f"\nprivate set intersection: {inter['size']} shared customers ({held}), "
        f"{inter['psi_s']:.1f} s; train {inter['train_rows']}, test {inter['test_rows']}"
    )
    eps = privacy["embedding_epsilon"]
    print(
        f"protection: noise x{privacy['embedding_noise']} on embeddings, "
        f"x{privacy['gradient_noise']} on gradients; epsilon per customer "
        + (f"{eps:.0f} at delta {privacy['delta']:g} (a weak guarantee)" if eps else "none")
    )
    rounds = report["timings"]["round_s"]
    print(
        f"job {report['job_id']}: {len(rounds)} epochs, {sum(rounds):.1f} s of training, "
        f"total {report['timings']['total_s']:.1f} s"
    )
