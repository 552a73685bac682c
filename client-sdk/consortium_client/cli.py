"""``consortium-client``: what a participant runs.

``run`` serves Flower ClientApps (built-in tasks by name, any ClientApp by ``--app
pkg.module:attr``) until stopped; ``status`` asks the coordinator whether this participant is
seen online. Enrollment and the privacy-budget ledger arrive with their issues.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys

import httpx
from consortium_core.errors import ConsortiumError

from .settings import ClientSettings

__all__ = ["main"]

log = logging.getLogger("consortium_client")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consortium-client", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve Flower messages for this participant")
    run.add_argument("--participant", help="participant id (letters, digits, - and _)")
    run.add_argument("--nats", help="NATS URL (default from CONSORTIUM_CLIENT_NATS_URL)")
    run.add_argument(
        "--task",
        action="append",
        default=[],
        help="built-in task to allow (repeatable), e.g. digits-cnn",
    )
    run.add_argument(
        "--app",
        action="append",
        default=[],
        help="a Flower ClientApp to allow, as pkg.module:attr (repeatable)",
    )
    run.add_argument(
        "--node-config",
        default="",
        help='Flower node config, e.g. "partition-id=0 num-partitions=5"',
    )
    run.add_argument("--json", action="store_true", help="log as JSON lines")
    status = sub.add_parser("status", help="is this participant online at the coordinator?")
    status.add_argument("--participant")
    status.add_argument("--coordinator", help="coordinator URL")
    status.add_argument("--json", action="store_true")
    return parser


def _configure_logging(as_json: bool) -> None:
    fmt = (
        '{"t":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}'
        if as_json
        else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.basicConfig(level=logging.INFO, format=fmt, stream=sys.stderr)


def _run(args: argparse.Namespace, settings: ClientSettings) -> int:
    os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    import torch
    from flwr.common.config import parse_config_args

    from .apps import load_client_apps
    from .runtime import ClientRuntime

    torch.set_num_threads(settings.threads)
    # The first optimizer pulls in torch._dynamo (seconds): pay that now, not in round 1.
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    participant = args.participant or settings.participant_id
    if not participant:
        raise SystemExit(
            "consortium-client run: give --participant (or CONSORTIUM_CLIENT_PARTICIPANT_ID)"
        )
    if not args.task and not args.app:
        raise SystemExit("consortium-client run: allow at least one --task or --app")
    try:
        node_config = parse_config_args([args.node_config]) if args.node_config else {}
    except ValueError as exc:
        raise SystemExit(f"consortium-client run: bad --node-config: {exc}") from exc
    apps = load_client_apps(tasks=args.task, apps=args.app)
    runtime = ClientRuntime(
        participant_id=participant,
        nats_url=args.nats or settings.nats_url,
        apps=apps,
        node_config=node_config,
        heartbeat_s=settings.heartbeat_s,
    )

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, runtime.stop)
        await runtime.run()

    try:  # uvloop moves large models ~1.5x faster than asyncio's default loop (docs/architecture)
        import uvloop

        uvloop.run(serve())
    except ImportError:
        asyncio.run(serve())
    log.info(
        "stopped: %d messages, %d errors, %d refused",
        runtime.stats.messages,
        runtime.stats.errors,
        runtime.stats.refused,
    )
    return 0


def _status(args: argparse.Namespace, settings: ClientSettings) -> int:
    participant = args.participant or settings.participant_id
    url = (args.coordinator or settings.coordinator_url).rstrip("/") + "/api/v1/participants"
    try:
        seen = httpx.get(url, timeout=10).raise_for_status().json()
    except httpx.HTTPError as exc:
        raise SystemExit(
            f"consortium-client status: coordinator not reachable at {url}: {exc}"
        ) from exc
    mine = [p for p in seen if participant in (None, p["participant_id"])]
    if args.json:
        print(json.dumps(mine, indent=2))
    elif not mine:
        print(f"{participant or 'no participant'}: not seen by the coordinator")
    for p in mine if not args.json else []:
        state = "online" if p["online"] else "offline"
        print(
            f"{p['participant_id']}: {state}, tasks {', '.join(p['tasks'])}, "
            f"last seen {p['seconds_since_seen']:.1f} s ago"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``consortium-client``."""
    args = _parser().parse_args(argv)
    _configure_logging(getattr(args, "json", False))
    settings = ClientSettings()
    try:
        return {"run": _run, "status": _status}[args.command](args, settings)
    except ConsortiumError as exc:
        print(f"consortium-client: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
