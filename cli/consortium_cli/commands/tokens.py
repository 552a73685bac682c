"""``consortium tokens create``: a participant's one-time enrollment token (admin)."""

from __future__ import annotations

import argparse

from ..context import Context
from ..output import human_time
from . import Subparsers, add_group, add_leaf, positive_int

__all__ = ["register"]


def register(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    tokens = add_group(commands, "tokens", help="one-time enrollment tokens for participants")
    create = add_leaf(
        tokens,
        "create",
        _create,
        help="issue a one-time enrollment token (printed once, on stdout)",
        common=common,
    )
    create.add_argument("participant_id", metavar="PARTICIPANT")
    create.add_argument(
        "--ttl-s", type=positive_int, metavar="N", help="valid for N seconds (registry default)"
    )


def _create(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        issued = client.create_enrollment_token(args.participant_id, ttl_s=args.ttl_s)
    if ctx.out.json_mode:
        ctx.out.json(issued)
        return 0
    ctx.out.line(issued["token"])
    ctx.out.note(
        f"one-time token for {issued['participant_id']}, valid until "
        f"{human_time(issued['expires_at'])} UTC; it is not shown again. The participant runs: "
        f"consortium-client enroll --participant {issued['participant_id']} --token <token> ..."
    )
    return 0
