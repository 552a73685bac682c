"""``consortium-client``: what a participant runs.

``enroll`` makes this participant's key pair here and gets its certificate from the registry
with a one-time token; ``run`` serves Flower ClientApps (built-in tasks by name, any ClientApp by
``--app pkg.module:attr``) until stopped, over mutual TLS with the enrolled identity when there is
one (renewing the certificate by itself); ``status`` asks the coordinator whether this
participant is seen online. The privacy-budget ledger arrives with its issue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
from consortium_core.contracts.node_config import IDENTITY_HOME
from consortium_core.errors import ConsortiumError

from .settings import ClientSettings

if TYPE_CHECKING:
    from consortium_core.privacy import PrivacyLedger

    from .identity import Identity

__all__ = ["main"]

log = logging.getLogger("consortium_client")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consortium-client", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    enroll = sub.add_parser(
        "enroll", help="make this participant's key pair and get its certificate (one-time token)"
    )
    enroll.add_argument(
        "--token", help="one-time enrollment token (or CONSORTIUM_CLIENT_ENROLL_TOKEN)"
    )
    enroll.add_argument(
        "--gateway", help="gateway URL, https://host[:port] (or CONSORTIUM_CLIENT_GATEWAY_URL)"
    )
    enroll.add_argument(
        "--participant", help="participant id: names the default home ~/.consortium/<id>"
    )
    enroll.add_argument("--home", type=Path, help="participant home (key, certificate, CA)")
    trust = enroll.add_mutually_exclusive_group()
    trust.add_argument("--ca-cert", type=Path, help="the CA file the operator handed out")
    trust.add_argument(
        "--ca-fingerprint", help="SHA-256 fingerprint of the CA (hex, colons allowed)"
    )
    enroll.add_argument("--json", action="store_true", help="print the result as JSON")
    run = sub.add_parser("run", help="serve Flower messages for this participant")
    run.add_argument("--participant", help="participant id (letters, digits, - and _)")
    run.add_argument("--nats", help="NATS URL (default from CONSORTIUM_CLIENT_NATS_URL)")
    run.add_argument(
        "--home",
        type=Path,
        help="enrolled participant home: connect with its certificate (mutual TLS)",
    )
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
    run.add_argument(
        "--epsilon-limit",
        type=float,
        help="most epsilon this participant spends over all jobs (default: no limit, "
        "or CONSORTIUM_CLIENT_PRIVACY_EPSILON_LIMIT)",
    )
    run.add_argument(
        "--privacy-delta",
        type=float,
        help="delta the privacy ledger composes at (default 1e-5, "
        "or CONSORTIUM_CLIENT_PRIVACY_DELTA)",
    )
    run.add_argument(
        "--privacy-accountant",
        help="accountant of the privacy ledger: prv (default) or rdp",
    )
    run.add_argument("--json", action="store_true", help="log as JSON lines")
    status = sub.add_parser("status", help="is this participant online at the coordinator?")
    status.add_argument("--participant")
    status.add_argument("--coordinator", help="coordinator URL")
    status.add_argument("--json", action="store_true")
    budget = sub.add_parser(
        "budget", help="what this participant's privacy ledger has spent and has left"
    )
    budget.add_argument("--home", type=Path, help="participant home (holds privacy/ledger.json)")
    budget.add_argument("--participant", help="participant id: its home ~/.consortium/<id>")
    budget.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def _configure_logging(as_json: bool) -> None:
    fmt = (
        '{"t":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}'
        if as_json
        else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.basicConfig(level=logging.INFO, format=fmt, stream=sys.stderr)


def _enroll(args: argparse.Namespace, settings: ClientSettings) -> int:
    from .enrollment import enroll

    token = args.token or (
        settings.enroll_token.get_secret_value() if settings.enroll_token else None
    )
    gateway = args.gateway or settings.gateway_url
    if not token or not gateway:
        raise SystemExit("consortium-client enroll: give --token and --gateway")
    if args.ca_cert or args.ca_fingerprint:
        ca_cert, ca_fingerprint = args.ca_cert, args.ca_fingerprint
    else:
        ca_cert, ca_fingerprint = settings.ca_cert, settings.ca_fingerprint
    if (ca_cert is None) == (ca_fingerprint is None):
        raise SystemExit(
            "consortium-client enroll: give --ca-cert PATH (the CA file from the operator) or "
            "--ca-fingerprint HEX (its SHA-256); without one the gateway cannot be trusted"
        )
    identity = enroll(
        gateway_url=gateway,
        token=token,
        home=args.home or settings.home,
        participant_id=args.participant or settings.participant_id,
        ca_cert_path=ca_cert,
        ca_fingerprint=ca_fingerprint,
        root=settings.identities_dir,
    )
    if args.json:
        print(json.dumps(identity.describe(), indent=2))
        return 0
    print(f"enrolled as {identity.participant_id} at {identity.gateway_url}")
    print(f"  private key  {identity.key_path} (mode 0600; it never leaves this machine)")
    print(f"  certificate  {identity.cert_path}")
    print(f"  valid until  {identity.not_after.isoformat()} (renewed by `run` before then)")
    print(f"  trusted CA   {identity.ca_path} (sha256 {identity.ca_fingerprint})")
    print(f"next: consortium-client run --home {identity.home} --nats tls://<host>:4222 --task ...")
    return 0


def _identity_for_run(
    args: argparse.Namespace, settings: ClientSettings, url: str
) -> Identity | None:
    """The enrolled identity ``run`` should use, or ``None`` for a plain ``nats://`` connection."""
    from .identity import default_home, load_identity

    home = args.home or settings.home
    if home is None and urlsplit(url).scheme == "tls":
        participant = args.participant or settings.participant_id
        if not participant:
            raise SystemExit(
                f"consortium-client run: {url} needs an enrolled identity: give --home DIR or "
                "--participant ID (run `consortium-client enroll --token ... --gateway ...` first)"
            )
        home = default_home(participant, root=settings.identities_dir)
    return None if home is None else load_identity(home)


def _run(args: argparse.Namespace, settings: ClientSettings) -> int:
    nats_url = args.nats or settings.nats_url
    identity = _identity_for_run(args, settings, nats_url)
    participant = args.participant or settings.participant_id
    if identity is not None:
        if participant and participant != identity.participant_id:
            raise SystemExit(
                f"consortium-client run: the identity in {identity.home} is "
                f"{identity.participant_id}, not {participant}"
            )
        participant = identity.participant_id
    if not participant:
        raise SystemExit(
            "consortium-client run: give --participant (or CONSORTIUM_CLIENT_PARTICIPANT_ID)"
        )
    ledger = _ledger_for_run(args, settings, identity, participant)
    os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    import torch
    from flwr.common.config import parse_config_args

    from .apps import load_client_apps
    from .runtime import ClientRuntime

    torch.set_num_threads(settings.threads)
    # The first optimizer pulls in torch._dynamo (seconds): pay that now, not in round 1.
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    if not args.task and not args.app:
        raise SystemExit("consortium-client run: allow at least one --task or --app")
    try:
        node_config = parse_config_args([args.node_config]) if args.node_config else {}
    except ValueError as exc:
        raise SystemExit(f"consortium-client run: bad --node-config: {exc}") from exc
    apps = load_client_apps(tasks=args.task, apps=args.app)
    tls = (
        identity.ssl_context_for_client(server_hostname_check=settings.tls_hostname_check)
        if identity is not None
        else None
    )
    runtime = ClientRuntime(
        participant_id=participant,
        nats_url=nats_url,
        apps=apps,
        node_config=node_config,
        runtime_node_config={
            **ledger.to_node_config(),
            # he-ckks jobs receive their secret key sealed for this identity's certificate
            **({IDENTITY_HOME: str(identity.home)} if identity is not None else {}),
        },
        heartbeat_s=settings.heartbeat_s,
        tls=tls,
    )

    async def serve() -> None:
        from .enrollment import RenewalLoop

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, runtime.stop)
        renewal = None
        if identity is not None and tls is not None:
            context = tls

            def present_renewed(renewed: Identity) -> None:
                # nats-py uses this same context on every (re)connect: new handshakes present
                # the renewed certificate; the open connection stays up.
                renewed.reload_into(context)

            renewal = RenewalLoop(
                identity, on_renewed=present_renewed, fraction=settings.renew_fraction
            )
            renewal.start()
        try:
            await runtime.run()
        finally:
            if renewal is not None:
                await renewal.stop()

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


def _ledger_for_run(
    args: argparse.Namespace, settings: ClientSettings, identity: Identity | None, participant: str
) -> PrivacyLedger:
    """The participant's ledger with the policy given now, written into its file."""
    from consortium_core.privacy import PrivacyLedger

    from .budget import adopt_ledger, ledger_path
    from .identity import default_home

    home = (
        identity.home
        if identity is not None
        else default_home(participant, root=settings.identities_dir)
    )
    limit = args.epsilon_limit if args.epsilon_limit is not None else settings.privacy_epsilon_limit
    ledger = PrivacyLedger(
        ledger_path(home),
        epsilon_limit=limit,
        delta=args.privacy_delta if args.privacy_delta is not None else settings.privacy_delta,
        accountant=args.privacy_accountant or settings.privacy_accountant,
    )
    adopt_ledger(ledger)
    return ledger


def _budget(args: argparse.Namespace, settings: ClientSettings) -> int:
    from consortium_core.privacy import PrivacyLedger

    from .budget import ledger_path, render_summary, stored_or_new
    from .identity import default_home

    home = args.home or settings.home
    participant = args.participant or settings.participant_id
    if home is None and participant:
        home = default_home(participant, root=settings.identities_dir)
    if home is None:
        raise SystemExit(
            "consortium-client budget: give --home DIR or --participant ID "
            "(or CONSORTIUM_CLIENT_HOME / CONSORTIUM_CLIENT_PARTICIPANT_ID)"
        )
    path = ledger_path(home)
    fallback = PrivacyLedger(
        path,
        epsilon_limit=settings.privacy_epsilon_limit,
        delta=settings.privacy_delta,
        accountant=settings.privacy_accountant,
    )
    summary = stored_or_new(path, fallback=fallback).summary()
    if args.json:
        print(summary.model_dump_json(indent=2))
    else:
        print(render_summary(summary))
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
        commands = {"enroll": _enroll, "run": _run, "status": _status, "budget": _budget}
        return commands[args.command](args, settings)
    except ConsortiumError as exc:
        print(f"consortium-client: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
