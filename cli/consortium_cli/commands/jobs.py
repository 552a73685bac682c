"""``consortium jobs``: create, list, show, stop and watch jobs; their rounds, model and privacy."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..client import GatewayClient
from ..context import Context
from ..errors import ChecksumMismatch, UnexpectedResponse, UsageError
from ..output import (
    Column,
    JobProgress,
    format_metrics,
    human_bytes,
    human_duration,
    human_time,
    render_fields,
    render_table,
)
from ..wire import ConfigValue, Job, JobCreate, Round
from . import Subparsers, add_group, add_leaf, natural_int, positive_int

__all__ = ["parse_config", "register", "render_privacy_report"]

JOB_STATUSES = ("pending", "running", "completed", "failed", "stopped")
EXIT_INTERRUPTED = 130


def register(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    jobs = add_group(commands, "jobs", help="federated jobs: create, follow, stop, download")

    listing = add_leaf(jobs, "list", _list, help="jobs, newest first", common=common)
    listing.add_argument("--status", choices=JOB_STATUSES, help="only jobs in this state")
    listing.add_argument("--limit", type=positive_int, default=50, help="at most N (50)")
    listing.add_argument("--offset", type=natural_int, default=0, help="skip the first N")

    show = add_leaf(jobs, "show", _show, help="one job", common=common)
    show.add_argument("job_id", metavar="ID")

    create = add_leaf(
        jobs,
        "create",
        _create,
        help="create a job; it starts when enough participants are online",
        common=common,
    )
    create.add_argument("--task", required=True, help="a built-in task or a ServerApp module:attr")
    create.add_argument("--rounds", type=positive_int, help="rounds to run (gateway default 3)")
    create.add_argument(
        "--min-participants", type=positive_int, help="participants needed to start (default 2)"
    )
    create.add_argument("--strategy", help="a Flower strategy name (default FedAvg)")
    create.add_argument("--name", help="a name for people")
    create.add_argument(
        "--client-task", help="the participants' task when --task is a ServerApp import path"
    )
    create.add_argument(
        "--config",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="run config for the apps, e.g. local-epochs=2 dp-target-epsilon=8.0",
    )
    create.add_argument("--watch", action="store_true", help="then follow it until it ends")

    stop = add_leaf(jobs, "stop", _stop, help="stop a pending or running job", common=common)
    stop.add_argument("job_id", metavar="ID")

    rounds = add_leaf(jobs, "rounds", _rounds, help="a job's rounds (0: initial)", common=common)
    rounds.add_argument("job_id", metavar="ID")

    watch = add_leaf(
        jobs,
        "watch",
        _watch,
        help="follow a job's progress until it ends (exit 0 when it completed, 1 otherwise)",
        common=common,
    )
    watch.add_argument("job_id", metavar="ID")

    model = add_leaf(
        jobs, "model", _model, help="download the job's global model (safetensors)", common=common
    )
    model.add_argument("job_id", metavar="ID")
    model.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="where to write it (default: its name)"
    )

    privacy = add_leaf(jobs, "privacy", _privacy, help="the job's privacy report", common=common)
    privacy.add_argument("job_id", metavar="ID")
    privacy.add_argument("--html", action="store_true", help="the printable page instead")
    privacy.add_argument("-o", "--output", type=Path, metavar="FILE", help="write it to FILE")


def parse_config(items: Iterable[str]) -> dict[str, ConfigValue]:
    """``KEY=VALUE`` pairs as a run config; values read as JSON numbers or booleans, else text.

    >>> parse_config(["local-epochs=2", "dp-delta=1e-5", "secure-aggregation=true", "opt=adam"])
    {'local-epochs': 2, 'dp-delta': 1e-05, 'secure-aggregation': True, 'opt': 'adam'}
    """
    config: dict[str, ConfigValue] = {}
    for item in items:
        key, equals, text = item.partition("=")
        key = key.strip()
        if not equals or not key:
            raise UsageError(f"--config takes KEY=VALUE, not {item!r}")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        if not isinstance(value, bool | int | float | str):
            value = text
        config[key] = value
    return config


def _round_progress(job: Mapping[str, Any]) -> str:
    return f"{job.get('current_round', 0)}/{job.get('rounds', '?')}"


def _list(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        jobs = client.list_jobs(status=args.status, limit=args.limit, offset=args.offset)
    columns = [
        Column("ID", "id"),
        Column("NAME", "name"),
        Column("TASK", "task"),
        Column("STATUS", "status"),
        Column("ROUND", _round_progress, align=">"),
        Column("CREATED (UTC)", lambda j: human_time(j.get("created_at"))),
        Column("METRICS", lambda j: format_metrics(j.get("metrics"), limit=2)),
    ]
    ctx.out.result(jobs, lambda: render_table(jobs, columns) if jobs else "no jobs")
    return 0


def _job_fields(job: Job) -> str:
    status = job["status"] + (f" ({job['reason']})" if job.get("reason") else "")
    return render_fields(
        [
            ("id", job["id"]),
            ("name", job.get("name") or "-"),
            ("task", job["task"]),
            ("client task", job.get("client_task") or job["task"]),
            ("strategy", job["strategy"]),
            ("status", status),
            ("round", _round_progress(job)),
            ("min participants", job["min_participants"]),
            ("participants", ", ".join(job.get("participants") or []) or "-"),
            ("metrics", format_metrics(job.get("metrics"), limit=12)),
            ("run config", job.get("run_config") or "-"),
            ("created (UTC)", human_time(job.get("created_at"))),
            ("started (UTC)", human_time(job.get("started_at"))),
            ("finished (UTC)", human_time(job.get("finished_at"))),
        ]
    )


def _show(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        job = client.get_job(args.job_id)
    ctx.out.result(job, lambda: _job_fields(job))
    return 0


def _create(args: argparse.Namespace, ctx: Context) -> int:
    spec: JobCreate = {"task": args.task}
    if args.name is not None:
        spec["name"] = args.name
    if args.client_task is not None:
        spec["client_task"] = args.client_task
    if args.strategy is not None:
        spec["strategy"] = args.strategy
    if args.rounds is not None:
        spec["rounds"] = args.rounds
    if args.min_participants is not None:
        spec["min_participants"] = args.min_participants
    if args.config:
        spec["config"] = parse_config(args.config)
    with ctx.client() as client:
        job = client.create_job(spec)
        if ctx.out.json_mode:
            ctx.out.json(job, compact=args.watch)
        else:
            ctx.out.line(
                f"job {job['id']} created: task {job['task']}, {job['rounds']} rounds, "
                f"{job['strategy']}, waiting for {job['min_participants']} participants"
            )
        if not args.watch:
            return 0
        return _follow(ctx, client, job["id"], total_rounds=job["rounds"], announced=True)


def _stop(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        job = client.stop_job(args.job_id)
    ctx.out.result(job, lambda: f"job {job['id']}: {job['status']}")
    return 0


def _rounds(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        rounds = client.job_rounds(args.job_id)
    columns = [
        Column("ROUND", "number", align=">"),
        Column("DURATION", lambda r: human_duration(r.get("duration_s")), align=">"),
        Column("SENT", lambda r: human_bytes(r.get("bytes_sent")), align=">"),
        Column("RECEIVED", lambda r: human_bytes(r.get("bytes_received")), align=">"),
        Column("PARTICIPANTS", lambda r: len(r.get("participants") or []), align=">"),
        Column("FAILURES", lambda r: len(r.get("failures") or {}), align=">"),
        Column("METRICS", lambda r: format_metrics(r.get("metrics"))),
    ]
    ctx.out.result(rounds, lambda: _rounds_text(rounds, columns))
    return 0


def _rounds_text(rounds: list[Round], columns: list[Column]) -> str:
    if not rounds:
        return "no rounds yet"
    text = render_table(rounds, columns)
    failures = [
        f"  round {r['number']}: {participant}: {reason}"
        for r in rounds
        for participant, reason in (r.get("failures") or {}).items()
    ]
    return "\n".join([text, "failures:", *failures]) if failures else text


def _watch(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        job = client.get_job(args.job_id)
        return _follow(ctx, client, job["id"], total_rounds=job["rounds"], announced=False)


def _follow(
    ctx: Context, client: GatewayClient, job_id: str, *, total_rounds: int, announced: bool
) -> int:
    """Follow the job's events to the end; 0 when it completed, 1 when it failed or stopped."""
    progress = JobProgress.for_streams(
        job_id=job_id,
        total_rounds=total_rounds,
        stderr=ctx.out.stderr,
        stdout=ctx.out.stdout,
        quiet=ctx.out.json_mode,
    )
    try:
        for event in client.job_events(job_id):
            if ctx.out.json_mode:
                record = {"id": event.sequence, "event": event.type, "data": event.data}
                ctx.out.json(record, compact=True)
            if event.type == "job_created" and announced:
                continue
            summary = progress.event(event)
            if summary is None:
                continue
            if ctx.out.json_mode:
                if progress.live is not None:
                    ctx.out.note(summary)
            else:
                ctx.out.line(summary)
            return 0 if event.type == "job_finished" else 1
    except KeyboardInterrupt:
        ctx.out.note(f"\nstopped watching; the job goes on (consortium jobs watch {job_id})")
        return EXIT_INTERRUPTED
    raise UnexpectedResponse(f"job {job_id}'s event stream ended without its final event")


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _model(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client, client.model(args.job_id) as download:
        default_name = download.filename or f"{args.job_id}.safetensors"
        destination: Path = args.output or Path(default_name)
        if destination.is_dir():
            destination = destination / default_name
        partial = destination.with_name(f".{destination.name}.part")
        size = 0
        try:
            with partial.open("wb") as file:
                for chunk in download.chunks:
                    file.write(chunk)
                    size += len(chunk)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    written = _sha256_of(partial)
    if download.sha256 and written != download.sha256:
        partial.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"the model written has sha256 {written}, the gateway announced {download.sha256}; "
            "nothing was kept, try again"
        )
    os.replace(partial, destination)
    verified = bool(download.sha256)
    result = {
        "job_id": args.job_id,
        "task": download.task,
        "round": download.round,
        "job_status": download.job_status,
        "metrics": download.metrics,
        "sha256": written,
        "sha256_verified": verified,
        "bytes": size,
        "path": str(destination),
    }
    check = "verified" if verified else "not verified: the gateway sent no checksum"
    ctx.out.result(
        result,
        lambda: render_fields(
            [
                ("task", download.task or "-"),
                ("round", download.round),
                ("job status", download.job_status or "-"),
                ("metrics", format_metrics(download.metrics, limit=12)),
                ("sha256", f"{written} ({check})"),
                ("written", f"{destination} ({human_bytes(size)})"),
            ]
        ),
    )
    return 0


def _privacy(args: argparse.Namespace, ctx: Context) -> int:
    if args.html:
        return _privacy_page(args, ctx)
    with ctx.client() as client:
        report = client.privacy_report(args.job_id)
    if args.output:
        args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        ctx.out.note(f"wrote the privacy report to {args.output}")
        return 0
    ctx.out.result(report, lambda: render_privacy_report(report))
    return 0


def _privacy_page(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        page = client.privacy_report_html(args.job_id)
    if args.output:
        args.output.write_text(page, encoding="utf-8")
        ctx.out.note(f"wrote the privacy report page to {args.output}")
    else:
        ctx.out.line(page)
    return 0


def _yes_no(value: Any) -> str:
    return "yes" if value else "no"


def render_privacy_report(report: Mapping[str, Any]) -> str:
    """A privacy report (`GET /jobs/{id}/privacy-report`) as people read it."""
    fields: list[tuple[str, Any]] = [
        ("job", f"{report.get('job_id')} ({report.get('status') or '?'})"),
        ("differential privacy", _yes_no(report.get("dp"))),
    ]
    if report.get("dp"):
        fields += [
            ("mechanism", report.get("mechanism")),
            ("accountant", report.get("accountant")),
            ("delta", report.get("delta")),
            ("epsilon (max)", _number(report.get("epsilon_max"))),
        ]
    fields.append(("secure aggregation", _yes_no(report.get("secure_aggregation"))))
    if report.get("aggregation"):
        fields.append(("aggregation", report.get("aggregation")))
        fields.append(("the coordinator saw", report.get("server_saw")))
    budget = report.get("budget")
    if isinstance(budget, dict):
        stopped = (
            " - stopped early: " + str(budget.get("reason")) if budget.get("stopped_early") else ""
        )
        fields.append(
            (
                "budget",
                f"epsilon {budget.get('epsilon')} at delta {budget.get('delta')}"
                f" ({budget.get('accountant')}){stopped}",
            )
        )
    central = report.get("central_dp")
    if isinstance(central, dict):
        fields.append(
            (
                "central DP",
                f"{central.get('mode')}: noise {central.get('noise_multiplier')}"
                f", clip {central.get('clipping_norm')}, epsilon {_number(central.get('epsilon'))}",
            )
        )
    attack = report.get("membership_inference")
    if isinstance(attack, dict):
        fields.append(
            (
                "membership inference",
                f"AUC mean {_number(attack.get('auc_mean'))}, "
                f"max {_number(attack.get('auc_max'))} ({attack.get('attack')})",
            )
        )
    parts = [render_fields(fields)]
    participants = report.get("participants") or {}
    if participants:
        rows = [{"participant": name, **values} for name, values in participants.items()]
        parts.append(
            render_table(
                rows,
                [
                    Column("PARTICIPANT", "participant"),
                    Column("EPSILON", lambda r: _number(r.get("epsilon")), align=">"),
                    Column("DELTA", "delta", align=">"),
                    Column("NOISE", lambda r: _number(r.get("noise_multiplier")), align=">"),
                    Column("SAMPLE RATE", lambda r: _number(r.get("sample_rate")), align=">"),
                    Column("STEPS", "steps", align=">"),
                    Column("ROUNDS", "rounds", align=">"),
                ],
            )
        )
    refusals = report.get("refusals") or []
    if refusals:
        parts.append(
            "refusals:\n"
            + render_table(
                refusals,
                [
                    Column("ROUND", "round", align=">"),
                    Column("PARTICIPANT", "participant"),
                    Column("REASON", "reason"),
                ],
            )
        )
    return "\n\n".join(parts)


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else ("-" if value is None else str(value))
