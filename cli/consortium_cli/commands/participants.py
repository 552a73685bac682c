"""``consortium participants``: register, list, show and revoke participants (admin to change)."""

from __future__ import annotations

import argparse

from ..context import Context
from ..output import Column, human_time, render_fields, render_table
from ..wire import ParticipantDetail
from . import Subparsers, add_group, add_leaf, natural_int, positive_int

__all__ = ["register"]


def register(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    participants = add_group(
        commands, "participants", help="the organisations that train: register, list, revoke"
    )
    listing = add_leaf(participants, "list", _list, help="participants by id", common=common)
    listing.add_argument("--status", choices=("active", "revoked"), help="only these")
    listing.add_argument("--limit", type=positive_int, default=100, help="at most N (100)")
    listing.add_argument("--offset", type=natural_int, default=0, help="skip the first N")

    show = add_leaf(
        participants, "show", _show, help="one participant and its certificates", common=common
    )
    show.add_argument("participant_id", metavar="ID")

    create = add_leaf(
        participants,
        "create",
        _create,
        help="register a participant (admin); it enrolls later with a token",
        common=common,
    )
    create.add_argument("participant_id", metavar="ID", help="also its certificate's name")
    create.add_argument("--name", default="", help="a name for people")
    create.add_argument("--organisation", default="", help="the organisation behind it")
    create.add_argument("--contact", default="", help="whom to call")

    revoke = add_leaf(
        participants,
        "revoke",
        _revoke,
        help="revoke a participant and its certificates (admin)",
        common=common,
    )
    revoke.add_argument("participant_id", metavar="ID")
    revoke.add_argument("--reason", required=True, help="why, for the audit log")


PARTICIPANT_COLUMNS = [
    Column("ID", "participant_id"),
    Column("NAME", "name"),
    Column("ORGANISATION", "organisation"),
    Column("STATUS", "status"),
    Column("ONLINE", "online"),
    Column("LAST SEEN (UTC)", lambda p: human_time(p.get("last_seen_at"))),
]


def _list(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        found = client.list_participants(status=args.status, limit=args.limit, offset=args.offset)
    ctx.out.result(
        found, lambda: render_table(found, PARTICIPANT_COLUMNS) if found else "no participants"
    )
    return 0


def _detail_text(participant: ParticipantDetail) -> str:
    fields = render_fields(
        [
            ("id", participant["participant_id"]),
            ("name", participant.get("name") or "-"),
            ("organisation", participant.get("organisation") or "-"),
            ("contact", participant.get("contact") or "-"),
            ("status", participant["status"]),
            ("online", participant.get("online")),
            ("created (UTC)", human_time(participant.get("created_at"))),
            ("last seen (UTC)", human_time(participant.get("last_seen_at"))),
            ("revoked (UTC)", human_time(participant.get("revoked_at"))),
            ("revoke reason", participant.get("revoke_reason") or "-"),
        ]
    )
    certificates = participant.get("certificates") or []
    if not certificates:
        return fields + "\n\nno certificates yet (not enrolled)"
    table = render_table(
        certificates,
        [
            Column("SERIAL", "serial"),
            Column("VIA", "issued_via"),
            Column("NOT AFTER (UTC)", lambda c: human_time(c.get("not_after"))),
            Column("REVOKED (UTC)", lambda c: human_time(c.get("revoked_at"))),
        ],
    )
    return f"{fields}\n\ncertificates:\n{table}"


def _show(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        participant = client.get_participant(args.participant_id)
    ctx.out.result(participant, lambda: _detail_text(participant))
    return 0


def _create(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        created = client.create_participant(
            args.participant_id,
            name=args.name,
            organisation=args.organisation,
            contact=args.contact,
        )
    ctx.out.result(
        created,
        lambda: (
            f"participant {created['participant_id']} registered; give it an enrollment token: "
            f"consortium tokens create {created['participant_id']}"
        ),
    )
    return 0


def _revoke(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        result = client.revoke_participant(args.participant_id, reason=args.reason)

    def text() -> str:
        line = (
            f"participant {result['participant']['participant_id']} revoked "
            f"({result['certificates_revoked']} certificates revoked)"
        )
        if result.get("authorization_applied"):
            return line + "; NATS refuses it from now on"
        error = result.get("authorization_error") or "not applied yet"
        return line + f"; NATS authorization: {error}"

    ctx.out.result(result, text)
    return 0
