"""``make chaos``: a federated job runs while services, NATS, Postgres and participants are
killed and restarted at random; at the end the soak checks that nothing was lost or doubled.

The soak brings up a platform of its own under ``var/chaos`` (free ports, its own NATS and a
private Postgres cluster, so that the machine's Postgres is never crashed), enrolls the
participants as real client processes over mutual TLS and runs one DP-SGD job with contribution
scoring. While the job runs, a fault every ``gap`` seconds: SIGKILL of a service (coordinator,
registry, metrics, contribution, gateway) or of NATS, a Postgres crash, or SIGKILL of a
participant that comes back later. Then it checks:

* the job completed, its rounds are contiguous (0..N, each stored once);
* every event is in the events stream once and was taken by its consumers (metrics service,
  contribution service), every audit record is chained once and every round's parameter
  exchanges are in the audit log, whose hash chain verifies;
* the privacy report agrees with the stored rounds (no DP step lost or counted twice).

It writes ``var/bench/chaos.json`` (``completed``, ``lost_events``, ``duplicate_events``,
``audit_ok`` and the details) and exits 1 when a check fails. ``--scripted`` injects each kind
of fault once, spread over ``--duration`` (the short version that runs in ``make test``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from ..enrollment import OperatorSession
from ..hospitals import start_hospitals, wait_online
from ..infra import free_port
from ..pki import prepare_platform_pki
from ..platform import Platform
from ..postgres import PrivatePostgres
from .checks import audit_check, events_check, expected_job_events, privacy_check, rounds_check
from .evidence import gather_stream_and_tables
from .faults import FAULTS, FaultInjector

__all__ = ["SoakSettings", "main", "run_soak"]

log = logging.getLogger("consortium.chaos")

TASK = "digits-private"
TARGET_EPSILON = 8.0
TERMINAL = {"completed", "failed", "stopped"}


@dataclass(frozen=True)
class SoakSettings:
    """How long, with how many participants, which faults."""

    duration_s: float = 600.0
    """Faults are injected this long (the job is sized to run about as long)."""
    participants: int = 10
    rounds: int | None = None
    """None: sized from a short calibration job so that the job lasts about ``duration_s``."""
    gap_s: tuple[float, float] = (8.0, 20.0)
    """Pause between two faults, drawn uniformly."""
    faults: tuple[str, ...] = FAULTS
    scripted: bool = False
    """Each fault of ``faults`` once, in order, spread evenly over ``duration_s``."""
    seed: int = 0
    root: Path = Path("var/chaos")
    out: Path = Path("var/bench/chaos.json")


def _fresh_root(root: Path) -> Path:
    """An empty folder that the postgres user can reach (its cluster lives below)."""
    root = root.resolve()
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for folder in [root, *root.parents]:
        if folder.stat().st_mode & 0o005 != 0o005:
            folder.chmod(folder.stat().st_mode | 0o005)
    return root


def _isolated_platform(root: Path) -> Platform:
    """A platform on free ports with its own Postgres cluster, NATS and database."""
    for name in ("COORDINATOR", "REGISTRY", "METRICS", "CONTRIBUTION", "GATEWAY", "NATS"):
        os.environ[f"CONSORTIUM_{name}_PORT"] = str(free_port())
    os.environ["CONSORTIUM_POSTGRES_PORT"] = str(free_port())
    os.environ["CONSORTIUM_PLATFORM_DATABASE"] = "consortium"
    console = Path.cwd() / "web" / "dist"
    os.environ.setdefault("CONSORTIUM_GATEWAY_CONSOLE_DIR", str(console))
    return Platform(root)


class _Api:
    """The coordinator's API, asked again while it is restarting."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/") + "/api/v1", timeout=10)

    def get(self, path: str, *, patience_s: float = 180.0) -> Any:
        deadline = time.monotonic() + patience_s
        while True:
            try:
                answer = self.http.get(path)
                if answer.status_code == 200:
                    return answer.json()
                problem = f"{answer.status_code} {answer.text[:200]}"
            except httpx.HTTPError as exc:
                problem = str(exc)
            if time.monotonic() > deadline:
                raise RuntimeError(f"GET {path}: {problem}")
            time.sleep(1.0)

    def last_round(self, job_id: str) -> int | None:
        """The job's last stored round, None while the coordinator does not answer."""
        try:
            job = self.http.get(f"/jobs/{job_id}", timeout=3).json()
        except (httpx.HTTPError, ValueError):
            return None
        return job.get("current_round")


def _create_job(operator: OperatorSession, *, rounds: int, participants: int, name: str) -> str:
    from consortium_tasks.digits_private.task import PRIVATE_RUN_CONFIG

    config = {k: v for k, v in PRIVATE_RUN_CONFIG.items() if k != "num-server-rounds"}
    config |= {"dp-target-epsilon": TARGET_EPSILON, "dp-accountant": "rdp", "contributions": "gtg"}
    created = operator.http.post(
        "/jobs",
        json={
            "name": name,
            "task": TASK,
            "strategy": "FedAvg",
            "rounds": rounds,
            "min_participants": max(2, participants // 2 + 1),
            "config": config,
        },
    )
    if created.status_code != 201:
        raise RuntimeError(f"job refused: {created.text}")
    return str(created.json()["id"])


def _wait_job(api: _Api, job_id: str, timeout_s: float, every: Callable[[], None]) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        every()
        job = api.get(f"/jobs/{job_id}")
        if job["status"] in TERMINAL or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


def _calibrated_rounds(api: _Api, operator: OperatorSession, settings: SoakSettings) -> int:
    """Rounds for the soak job: about ``duration_s`` worth at the pace of a fault-free job."""
    job_id = _create_job(operator, rounds=4, participants=settings.participants, name="pace")
    job = _wait_job(api, job_id, 300, lambda: None)
    rounds = [r for r in api.get(f"/jobs/{job_id}/rounds") if r["number"] > 0]
    if job["status"] != "completed" or not rounds:
        raise RuntimeError(f"the calibration job {job_id} {job['status']}: {job.get('reason')}")
    pace = max(sum(r["duration_s"] for r in rounds) / len(rounds), 0.05)
    # faults slow the job down (restarts, participants away): a random soak aims at 80% of its
    # time in rounds; a scripted one at all of it, so that its last fault hits the running job
    share = 1.0 if settings.scripted else 0.8
    return max(20, min(5000, int(share * settings.duration_s / pace)))


def _drive_faults(
    injector: FaultInjector, api: _Api, job_id: str, settings: SoakSettings, rng: random.Random
) -> dict:
    """Inject faults until the job ends or ``duration_s`` is over, then let the job finish.
    Random: a fault of a random kind every ``gap_s``. Scripted: each of ``faults`` once, spread
    evenly over ``duration_s``."""
    started = time.monotonic()
    pending = list(settings.faults)
    every = settings.duration_s / max(1, len(pending))
    next_at = started + (every / 2 if settings.scripted else rng.uniform(*settings.gap_s))
    while True:
        injector.tick()
        now = time.monotonic()
        faulting = pending if settings.scripted else now - started < settings.duration_s
        if faulting and now >= next_at:
            kind = pending.pop(0) if settings.scripted else rng.choice(settings.faults)
            last = api.last_round(job_id)
            log.info("%.0f s, round %s: fault %s", now - started, last, kind)
            log.info("  %s", injector.inject(kind, round_now=last))
            next_at = (
                next_at + every
                if settings.scripted
                else time.monotonic() + rng.uniform(*settings.gap_s)
            )
        elif not faulting:
            injector.bring_everyone_back()
        try:
            job = api.http.get(f"/jobs/{job_id}", timeout=3).json()
            if job["status"] in TERMINAL:
                injector.bring_everyone_back()
                return job
        except (httpx.HTTPError, ValueError):
            pass
        if now - started > settings.duration_s + 900:
            return api.get(f"/jobs/{job_id}")  # not finished 15 min after the faults stopped
        time.sleep(0.3)


def _wait_for_consumers(api_urls: dict[str, str], job_id: str, rounds: int, ca: Path) -> None:
    """Give the metrics and contribution services time to take the job's last events."""
    deadline = time.monotonic() + 300
    contribution = httpx.Client(base_url=api_urls["contribution_url"] + "/api/v1", timeout=10)
    while time.monotonic() < deadline:
        try:
            found = contribution.get(f"/jobs/{job_id}/contributions")
            if found.status_code == 200 and len(found.json()["rounds"]) >= rounds:
                return
        except httpx.HTTPError:
            pass
        time.sleep(2.0)


def run_soak(settings: SoakSettings) -> dict[str, Any]:
    """Run the soak and return its report (also written to ``settings.out``)."""
    rng = random.Random(settings.seed)
    root = _fresh_root(settings.root)
    platform = _isolated_platform(root)
    postgres = PrivatePostgres(platform.var / "postgres", platform.postgres_port)
    started = time.monotonic()
    try:
        log.info("starting a platform of its own under %s", root)
        endpoints = platform.up()
        ca = platform.root / str(endpoints["ca_cert"])
        password = platform.root / str(endpoints["operator"]["password_file"])
        operator = OperatorSession(str(endpoints["gateway_url"]), ca, password)
        api = _Api(str(endpoints["coordinator_url"]))
        names: list[str] = []

        def start_participants() -> None:
            names[:] = start_hospitals(
                platform,
                endpoints,
                operator,
                task=TASK,
                count=settings.participants,
                partition="dirichlet(1.0)",
                seed=settings.seed,
                kind="participant",
            )

        start_participants()
        wait_online(operator.http, names, timeout_s=180)
        rounds = settings.rounds or _calibrated_rounds(api, operator, settings)
        job_id = _create_job(
            operator, rounds=rounds, participants=settings.participants, name="chaos soak"
        )
        log.info("job %s: %d rounds, %d participants", job_id, rounds, settings.participants)
        injector = FaultInjector(platform, postgres, names, start_participants, rng)
        job = _drive_faults(injector, api, job_id, settings, rng)
        log.info("job %s %s after %.0f s", job_id, job["status"], time.monotonic() - started)
        # a job that ended early stored rounds up to its current one only
        stored = rounds if job["status"] == "completed" else int(job.get("current_round", 1)) - 1
        _wait_for_consumers(endpoints, job_id, stored, ca)
        report = _check(platform, endpoints, api, operator, job, rounds, injector)
    finally:
        platform.down()
        postgres.stop("fast")
    report["duration_s"] = round(time.monotonic() - started, 1)
    report["settings"] = {
        **asdict(settings),
        "root": str(settings.root),
        "out": str(settings.out),
    }
    settings.out.parent.mkdir(parents=True, exist_ok=True)
    settings.out.write_text(json.dumps(report, indent=2) + "\n")
    return report


def _check(
    platform: Platform,
    endpoints: dict[str, Any],
    api: _Api,
    operator: OperatorSession,
    job: dict[str, Any],
    planned: int,
    injector: FaultInjector,
) -> dict[str, Any]:
    job_id = str(job["id"])
    rounds = api.get(f"/jobs/{job_id}/rounds")
    privacy = api.get(f"/jobs/{job_id}/privacy-report")
    contribution_url = str(endpoints["contribution_url"]) + "/api/v1"
    scored = httpx.get(f"{contribution_url}/jobs/{job_id}/contributions", timeout=30).json()
    verification = operator.http.get("/audit/verify").json()
    pki = prepare_platform_pki(platform.var / "pki")
    deadline = time.monotonic() + 60
    while True:  # the metrics service and the registry take the last events a moment later
        evidence = asyncio.run(
            gather_stream_and_tables(
                job_id,
                nats_url=str(endpoints["nats_url"]),
                tls=(pki.ca_cert, *pki.service("metrics")),
                postgres_dsn=platform.database_url.replace("+asyncpg", ""),
            )
        )
        metrics_behind = set(evidence.event_ids) - set(evidence.metrics_event_ids)
        registry_behind = set(evidence.audit_records) - set(evidence.chained_records)
        if not metrics_behind and not registry_behind:
            break
        if time.monotonic() > deadline:
            break
        time.sleep(2.0)
    numbers = [int(r["number"]) for r in rounds]
    scored_rounds = {int(r["round"]) for r in scored.get("rounds", [])}
    from consortium_core.contracts.events import round_event_id

    # a job that ended early ran rounds up to its last stored one: later rounds' events were
    # never due (the job's status and the rounds check say it did not complete)
    ran = planned if job["status"] == "completed" else max(numbers, default=0)
    events = events_check(
        expected=expected_job_events(job_id, ran, contributions=True),
        in_stream=evidence.event_ids,
        consumed={
            "metrics": (evidence.event_ids, evidence.metrics_event_ids),
            "contribution": (
                [round_event_id(job_id, n) for n in numbers if n > 0],
                [round_event_id(job_id, n) for n in scored_rounds],
            ),
        },
    )
    audit = audit_check(
        verified=bool(verification.get("ok")),
        records_in_stream=evidence.audit_records,
        records_chained=evidence.chained_records,
        exchanges=evidence.exchanges,
        rounds={int(r["number"]): list(r["participants"]) for r in rounds},
    )
    report: dict[str, Any] = {
        "completed": job["status"] == "completed",
        "lost_events": events["lost"] + audit["lost"],
        "duplicate_events": events["duplicates"] + audit["duplicates"],
        "audit_ok": audit["chain_verifies"] and audit["lost"] == 0 and audit["duplicates"] == 0,
        "job": {
            "id": job_id,
            "status": job["status"],
            "reason": job.get("reason", ""),
            "participants": len(injector.participants),
            "final_accuracy": rounds[-1]["metrics"].get("accuracy") if rounds else None,
            "rounds_not_scored": sum(1 for r in scored.get("rounds", []) if not r["scored"]),
        },
        "rounds": rounds_check(numbers, planned=planned),
        "events": events,
        "audit": audit,
        "privacy": privacy_check(privacy, rounds, target_epsilon=TARGET_EPSILON),
        "faults": [asdict(f) for f in injector.injected],
        "fault_counts": _counts(f"{f.kind} {f.target}" for f in injector.injected),
    }
    report["ok"] = (
        report["completed"]
        and report["rounds"]["contiguous"]
        and report["lost_events"] == 0
        and report["duplicate_events"] == 0
        and report["audit_ok"]
        and report["privacy"]["ok"]
    )
    return report


def _counts(items: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        key = "kill -9 participant" if item.startswith("kill -9 participant-") else item
        counts[key] = counts.get(key, 0) + 1
    return counts


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``consortium-chaos``."""
    parser = argparse.ArgumentParser(prog="consortium-chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of faults")
    parser.add_argument("--participants", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=None, help="default: sized to --duration")
    parser.add_argument("--faults", default=",".join(FAULTS), help="kinds, comma-separated")
    parser.add_argument("--scripted", action="store_true", help="each fault once, at set rounds")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--root", type=Path, default=Path("var/chaos"))
    parser.add_argument("--out", type=Path, default=Path("var/bench/chaos.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", force=True
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    faults = tuple(f.strip() for f in args.faults.split(",") if f.strip())
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown:
        parser.error(f"unknown faults {unknown}; known: {', '.join(FAULTS)}")
    settings = SoakSettings(
        duration_s=args.duration,
        participants=args.participants,
        rounds=args.rounds,
        faults=faults,
        scripted=args.scripted,
        seed=args.seed,
        root=args.root,
        out=args.out,
    )
    # stopped from outside: leave through run_soak's clean-up (platform down, Postgres stopped)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        report = run_soak(settings)
    except RuntimeError as exc:
        print(f"consortium-chaos: {exc}", file=sys.stderr)
        return 2
    summary = {k: report[k] for k in ("completed", "lost_events", "duplicate_events", "audit_ok")}
    print(json.dumps({**summary, "privacy_ok": report["privacy"]["ok"], "ok": report["ok"]}))
    print(f"faults: {report['fault_counts']}; report: {settings.out}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
