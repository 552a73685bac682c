"""Benchmark ``ingest``: how fast the metrics service stores job events, and that none is lost.

What it does, all on this machine:

1. starts a private JetStream ``nats-server`` on a free port and creates a private Postgres
   database (dropped at the end);
2. publishes ``events`` realistic job events into the ``CONSORTIUM_EVENTS`` stream: many jobs
   at once, each ``job_created``, ``job_started``, ``rounds`` x ``round_completed`` (3 to 5
   participants each, with metrics and DP-SGD spends), then ``job_finished`` (some
   ``job_failed`` or ``job_stopped``), interleaved as concurrent jobs would be; plus a share of
   duplicates (an event published again under another ``Nats-Msg-Id``, as a republishing
   coordinator would, so JetStream keeps both and the consumer must skip one). Publishing is
   core ``publish`` onto the stream's subjects with the ``Nats-Msg-Id`` header, then a flush,
   then a check that the stream holds every message;
3. starts the real service, ``consortium-metrics``, as a subprocess (its consumer, batch size
   and Postgres writes exactly as deployed) and waits until every distinct event id is in
   ``metrics_events``.

``events_per_s`` = events stored after the service answered ``/ready`` divided by the time
from then until the last one was stored (Python's start-up and the migrations excluded; they
are in ``from_process_start_events_per_s``). ``lost`` = distinct ids published minus ids
stored (must be 0); ``stored_twice`` = rows beyond one per id (0 by the primary key);
``duplicates_skipped`` = what the consumer counted as already stored. The projections are
checked against what was published (rounds, participants' rounds, jobs by status). The
service's log stays in ``<out>/ingest-work/metrics.log``; the private stream's files and the
database are removed.

Command line (the same as ``python -m consortium_bench --bench ingest``, with knobs)::

    python -m consortium_bench.ingest --events 200000 --batch-size 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BenchmarkError", "Workload", "make_workload", "run", "table"]

GOAL_EVENTS_PER_S = 20_000


class BenchmarkError(RuntimeError):
    """The benchmark could not run or its result is wrong (events lost, stream incomplete)."""


def _log(msg: str) -> None:
    print(f"[ingest {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Workload:
    """The messages to publish, in order: ``(subject, payload, Nats-Msg-Id)``."""

    messages: list[tuple[str, bytes, str]] = field(default_factory=list)
    event_ids: set[str] = field(default_factory=set)
    duplicates: int = 0
    rounds: int = 0
    participant_rounds: int = 0
    jobs_by_status: Counter[str] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)


def _job_events(job_id: str, rounds: int, rng: random.Random, t0: float) -> Iterator[Any]:
    from consortium_core.contracts.events import (
        JobCreated,
        JobFailed,
        JobFinished,
        JobStarted,
        JobStopped,
        RoundCompleted,
    )

    participants = [f"hospital-{rng.randrange(1000):03d}" for _ in range(rng.randint(3, 5))]
    t = t0
    yield JobCreated(
        job_id=job_id,
        task="digits-cnn",
        strategy="fedavg",
        rounds=rounds,
        at=t,
        config={"local-epochs": 1, "dp-noise-multiplier": 1.1},
    )
    t += 0.5
    yield JobStarted(job_id=job_id, participants=participants, at=t)
    for number in range(rounds):
        t += 1.0
        reports = {
            p: {
                "train_loss": rng.random(),
                "num_examples": 400.0,
                "dp_noise_multiplier": 1.1,
                "dp_sample_rate": 0.02,
                "dp_steps": 50.0,
                "dp_delta": 1e-5,
            }
            for p in participants
        }
        failures = {participants[-1]: "offline"} if rng.random() < 0.05 else {}
        yield RoundCompleted(
            job_id=job_id,
            round=number,
            metrics={"accuracy": rng.random(), "loss": rng.random()},
            duration_s=0.8,
            bytes_sent=1_200_000,
            bytes_received=1_200_000,
            participants=[p for p in participants if p not in failures],
            failures=failures,
            participant_metrics=reports,
            checkpoint=f"{job_id}/round-{number}.safetensors",
            at=t,
        )
    t += 0.1
    ending = rng.random()
    if ending < 0.9:
        yield JobFinished(
            job_id=job_id, rounds=rounds - 1, metrics={"accuracy": 0.9}, duration_s=t - t0, at=t
        )
    elif ending < 0.95:
        yield JobFailed(job_id=job_id, reason="too few participants returned an update", at=t)
    else:
        yield JobStopped(job_id=job_id, at=t)


def make_workload(
    events: int,
    *,
    rounds: int = 20,
    concurrent_jobs: int = 200,
    duplicate_share: float = 0.01,
    seed: int = 0,
) -> Workload:
    """About ``events`` distinct events (whole jobs) plus ``duplicate_share`` of duplicates.

    >>> w = make_workload(230, rounds=20, concurrent_jobs=4)
    >>> len(w.event_ids), w.by_type["job_created"], w.rounds
    (230, 10, 200)
    >>> w.duplicates == len(w.messages) - len(w.event_ids)
    True
    """
    from consortium_core import subjects

    rng = random.Random(seed)
    jobs = max(1, round(events / (rounds + 3)))
    t0 = time.time() - 3600
    pending = [
        _job_events(uuid.UUID(int=rng.getrandbits(128)).hex, rounds, rng, t0 + i)
        for i in range(jobs)
    ]
    workload = Workload()
    active = [pending.pop(0) for _ in range(min(concurrent_jobs, len(pending)))]
    while active:
        i = rng.randrange(len(active))
        event = next(active[i], None)
        if event is None:
            active.pop(i)
            if pending:
                active.append(pending.pop(0))
            continue
        subject = subjects.job_event(event.job_id, event.type)
        payload = event.model_dump_json().encode()
        workload.messages.append((subject, payload, event.id))
        workload.event_ids.add(event.id)
        workload.by_type[event.type] += 1
        if event.type == "round_completed":
            workload.rounds += 1
            workload.participant_rounds += len(event.participant_metrics)
        elif event.type in ("job_finished", "job_failed", "job_stopped"):
            status = {"job_finished": "completed", "job_failed": "failed"}.get(event.type)
            workload.jobs_by_status[status or "stopped"] += 1
        if rng.random() < duplicate_share:
            workload.messages.append((subject, payload, f"{event.id}-again"))
            workload.duplicates += 1
    return workload


async def _publish(nats_url: str, workload: Workload, log: Callable[[str], None]) -> float:
    import nats
    from consortium_core import subjects
    from consortium_service.events_stream import ensure_events_stream

    nc = await nats.connect(nats_url, pending_size=64 * 1024 * 1024)
    try:
        js = nc.jetstream()
        await ensure_events_stream(js)
        started = time.perf_counter()
        for i, (subject, payload, msg_id) in enumerate(workload.messages, 1):
            await nc.publish(subject, payload, headers={"Nats-Msg-Id": msg_id})
            if i % 5000 == 0:
                await nc.flush(timeout=30)
        await nc.flush(timeout=30)
        expected = len(workload.messages)
        deadline = time.monotonic() + 30
        while (stored := (await js.stream_info(subjects.EVENTS_STREAM)).state.messages) < expected:
            if time.monotonic() > deadline:
                raise BenchmarkError(f"the stream holds {stored} of {expected} messages")
            await asyncio.sleep(0.1)
        seconds = time.perf_counter() - started
        log(f"published {expected} messages in {seconds:.1f} s ({expected / seconds:.0f}/s)")
        return seconds
    finally:
        await nc.close()


async def _sql(dsn: str, query: str, *args: Any) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


def _check_running(proc: subprocess.Popen[bytes], log_path: Path) -> None:
    if proc.poll() is not None:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise BenchmarkError(f"consortium-metrics exited with {proc.returncode}:\n{tail}")


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 when it is gone or unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _cpu_pids(conn: Any, database: str, service: int, nats: int) -> dict[str, list[int]]:
    backends = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        database,
    )
    helpers = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE backend_type IN "
        "('walwriter', 'checkpointer', 'background writer')"
    )
    return {
        "consortium_metrics": [service],
        "postgres_backends": [r[0] for r in backends],
        "postgres_wal_and_checkpoints": [r[0] for r in helpers],
        "nats_server": [nats],
    }


async def _ingest(
    dsn: str,
    ready_url: str,
    proc: subprocess.Popen[bytes],
    nats_pid: int,
    distinct: int,
    log_path: Path,
    timeout_s: float,
    spawned: float,
) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        while not _ready(ready_url):
            _check_running(proc, log_path)
            if time.perf_counter() - spawned > 120:
                raise BenchmarkError("consortium-metrics did not become ready in 120 s")
            await asyncio.sleep(0.02)
        t_ready = time.perf_counter()
        pids = await _cpu_pids(conn, dsn.rsplit("/", 1)[1], proc.pid, nats_pid)
        cpu_at_ready = {k: sum(_cpu_seconds(p) for p in v) for k, v in pids.items()}
        stored_at_ready = await conn.fetchval("SELECT events_stored FROM metrics_ingest")
        while True:
            stored = await conn.fetchval("SELECT events_stored FROM metrics_ingest")
            if stored >= distinct:
                break
            _check_running(proc, log_path)
            if time.perf_counter() - t_ready > timeout_s:
                raise BenchmarkError(f"only {stored} of {distinct} events stored in {timeout_s} s")
            await asyncio.sleep(0.05)
        t_done = time.perf_counter()
        cpu = {k: sum(_cpu_seconds(p) for p in v) - cpu_at_ready[k] for k, v in pids.items()}
    finally:
        await conn.close()
    measured = distinct - stored_at_ready
    return {
        "ready_after_s": t_ready - spawned,
        "stored_at_ready": float(stored_at_ready),
        "seconds": t_done - t_ready,
        "from_process_start_s": t_done - spawned,
        "cpu_us_per_event": {k: round(v / measured * 1e6, 1) for k, v in cpu.items()},
    }


async def _check(dsn: str, workload: Workload) -> dict[str, Any]:
    stored_ids = {r[0] for r in await _sql(dsn, "SELECT event_id FROM metrics_events")}
    rows = (await _sql(dsn, "SELECT count(*) FROM metrics_events"))[0][0]
    ingest = dict((await _sql(dsn, "SELECT * FROM metrics_ingest"))[0])
    rounds = (await _sql(dsn, "SELECT count(*) FROM metrics_rounds"))[0][0]
    participant_rounds = (await _sql(dsn, "SELECT count(*) FROM metrics_participant_rounds"))[0][0]
    statuses = dict(await _sql(dsn, "SELECT status, count(*) FROM metrics_jobs GROUP BY status"))
    return {
        "lost": len(workload.event_ids - stored_ids),
        "unexpected": len(stored_ids - workload.event_ids),
        "stored_twice": rows - len(stored_ids),
        "duplicates_skipped": ingest["duplicates_skipped"],
        "rejected": ingest["rejected"],
        "projections_match": rounds == workload.rounds
        and participant_rounds == workload.participant_rounds
        and statuses == dict(workload.jobs_by_status),
        "rows": {
            "metrics_events": rows,
            "metrics_rounds": rounds,
            "metrics_participant_rounds": participant_rounds,
            "metrics_jobs": sum(statuses.values()),
        },
    }


def _machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "load_avg_1m_at_start": os.getloadavg()[0],
    }


def run(
    out_dir: Path,
    *,
    events: int = 200_000,
    batch_size: int = 1000,
    rounds: int = 20,
    duplicate_share: float = 0.01,
    timeout_s: float = 600.0,
    log: Callable[[str], None] = _log,
) -> dict[str, Any]:
    """Run the benchmark; returns the report (see the module's docstring)."""
    from consortium_devtools.infra import (
        ensure_postgres,
        free_port,
        nats_server_binary,
        wait_for_port,
    )

    work = out_dir / "ingest-work"
    work.mkdir(parents=True, exist_ok=True)
    machine = _machine()
    log(f"building {events} events")
    workload = make_workload(events, rounds=rounds, duplicate_share=duplicate_share)
    store = work / f"nats-{uuid.uuid4().hex[:8]}"
    nats_port, http_port = free_port(), free_port()
    nats_url = f"nats://127.0.0.1:{nats_port}"
    postgres_url = ensure_postgres(Path.cwd() / "var")
    database = f"consortium_bench_ingest_{uuid.uuid4().hex[:8]}"
    dsn = f"{postgres_url}/{database}"
    log_path = work / "metrics.log"
    nats_proc = subprocess.Popen(
        [nats_server_binary(), "-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(nats_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    service: subprocess.Popen[bytes] | None = None
    try:
        if not wait_for_port("127.0.0.1", nats_port, 20):
            raise BenchmarkError("nats-server did not start")
        publish_s = asyncio.run(_publish(nats_url, workload, log))
        asyncio.run(_sql(f"{postgres_url}/postgres", f'CREATE DATABASE "{database}"'))
        env = {
            **os.environ,
            "CONSORTIUM_METRICS_DATABASE_URL": dsn.replace(
                "postgresql://", "postgresql+asyncpg://"
            ),
            "CONSORTIUM_METRICS_NATS_URL": nats_url,
            "CONSORTIUM_METRICS_PORT": str(http_port),
            "CONSORTIUM_METRICS_BATCH_SIZE": str(batch_size),
            "OMP_NUM_THREADS": "1",
        }
        log(f"starting consortium-metrics (batch size {batch_size})")
        spawned = time.perf_counter()
        with log_path.open("wb") as log_file:
            service = subprocess.Popen(
                [str(Path(sys.executable).parent / "consortium-metrics")],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
            )
            timing = asyncio.run(
                _ingest(
                    dsn,
                    f"http://127.0.0.1:{http_port}/api/v1/ready",
                    service,
                    nats_proc.pid,
                    len(workload.event_ids),
                    log_path,
                    timeout_s,
                    spawned,
                )
            )
            load_end = os.getloadavg()[0]
            service.terminate()
            service.wait(15)
        checks = asyncio.run(_check(dsn, workload))
    finally:
        if service is not None and service.poll() is None:
            service.kill()
            service.wait(10)
        nats_proc.terminate()
        nats_proc.wait(10)
        shutil.rmtree(store, ignore_errors=True)  # the private stream's files
        with contextlib.suppress(Exception):
            asyncio.run(
                _sql(
                    f"{postgres_url}/postgres", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'
                )
            )
    distinct = len(workload.event_ids)
    measured = distinct - timing["stored_at_ready"]
    report: dict[str, Any] = {
        "events_per_s": measured / timing["seconds"],
        "goal_events_per_s": GOAL_EVENTS_PER_S,
        "goal_met": measured / timing["seconds"] >= GOAL_EVENTS_PER_S,
        "events": len(workload.messages),
        "distinct_events": distinct,
        "duplicates": workload.duplicates,
        "events_by_type": dict(workload.by_type),
        "seconds": timing["seconds"],
        "events_measured": measured,
        "from_process_start_s": timing["from_process_start_s"],
        "from_process_start_events_per_s": distinct / timing["from_process_start_s"],
        "ready_after_s": timing["ready_after_s"],
        "publish_s": publish_s,
        "batch_size": batch_size,
        "consumer": "subprocess: consortium-metrics (uvicorn, uvloop), as deployed",
        "cpu_us_per_event": timing["cpu_us_per_event"],
        **checks,
        "machine": {**machine, "load_avg_1m_at_end": load_end},
    }
    if checks["lost"] or checks["stored_twice"] or not checks["projections_match"]:
        raise BenchmarkError(f"wrong result: {json.dumps(report, indent=2)}")
    return report


def table(report: Mapping[str, Any]) -> str:
    """A short plain-text table of a report made by :func:`run`."""
    machine = report["machine"]
    met = "met" if report["goal_met"] else "NOT met"
    rows = [
        (
            "events published (distinct + duplicates)",
            f"{report['events']} ({report['distinct_events']} + {report['duplicates']})",
        ),
        (
            "ingest rate after ready",
            f"{report['events_per_s']:,.0f} events/s (goal {report['goal_events_per_s']:,}: {met})",
        ),
        ("  measured", f"{report['events_measured']:,.0f} events in {report['seconds']:.2f} s"),
        (
            "from process start",
            f"{report['from_process_start_events_per_s']:,.0f} events/s "
            f"({report['from_process_start_s']:.2f} s, "
            f"ready after {report['ready_after_s']:.2f} s)",
        ),
        ("lost / stored twice", f"{report['lost']} / {report['stored_twice']}"),
        ("duplicates skipped", str(report["duplicates_skipped"])),
        ("projections match", str(report["projections_match"])),
        ("batch size", str(report["batch_size"])),
        (
            "CPU per event (us)",
            ", ".join(f"{k} {v:.0f}" for k, v in report["cpu_us_per_event"].items()),
        ),
        (
            "load average (start, end)",
            f"{machine['load_avg_1m_at_start']:.2f}, {machine['load_avg_1m_at_end']:.2f} "
            f"on {machine['cpus']} CPUs",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main(argv: list[str] | None = None) -> int:
    """``python -m consortium_bench.ingest``: the ingest benchmark with its knobs exposed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("var/bench"))
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20, help="rounds per job")
    parser.add_argument("--duplicate-share", type=float, default=0.01)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report = run(
        args.out,
        events=args.events,
        batch_size=args.batch_size,
        rounds=args.rounds,
        duplicate_share=args.duplicate_share,
    )
    (args.out / "ingest.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
