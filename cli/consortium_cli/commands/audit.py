"""``consortium audit``: read, verify and export the hash-chained audit log."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..context import Context
from ..output import Column, human_bytes, render_table
from . import Subparsers, add_group, add_leaf, natural_int, positive_int

__all__ = ["register"]


def register(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    audit = add_group(commands, "audit", help="the platform's tamper-evident audit log")
    listing = add_leaf(audit, "list", _list, help="entries in order", common=common)
    listing.add_argument(
        "--after-seq", type=natural_int, default=0, metavar="N", help="entries after seq N"
    )
    listing.add_argument("--limit", type=positive_int, default=100, help="at most N (100)")
    add_leaf(
        audit,
        "verify",
        _verify,
        help="recompute every hash and link (exit 1 when the chain is broken)",
        common=common,
    )
    export = add_leaf(
        audit,
        "export",
        _export,
        help="the whole log as JSON lines (verifiable offline)",
        common=common,
    )
    export.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write to FILE (default: stdout)"
    )


def _list(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        entries = client.audit(after_seq=args.after_seq, limit=args.limit)
    columns = [
        Column("SEQ", "seq", align=">"),
        Column("AT (UTC)", lambda e: str(e.get("at", "")).replace("T", " ")[:19]),
        Column("KIND", "kind"),
        Column("ACTOR", "actor"),
        Column("DATA", "data"),
    ]
    ctx.out.result(entries, lambda: render_table(entries, columns) if entries else "no entries")
    return 0


def _verify(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        result = client.verify_audit()
    if result["ok"]:
        ctx.out.result(result, lambda: f"audit log intact: {result['checked']} entries checked")
        return 0
    ctx.out.result(
        result,
        lambda: (
            f"audit log BROKEN at seq {result.get('first_broken_seq')}: {result.get('reason')} "
            f"({result['checked']} entries checked)"
        ),
    )
    return 1


def _export(args: argparse.Namespace, ctx: Context) -> int:
    output: Path | None = args.output
    size = lines = 0
    ends_with_newline = True
    with ctx.client() as client, client.export_audit() as chunks:
        if output is None:
            for chunk in chunks:
                ctx.out.raw(chunk)
            return 0
        partial = output.with_name(f".{output.name}.part")
        try:
            with partial.open("wb") as file:
                for chunk in chunks:
                    file.write(chunk)
                    size += len(chunk)
                    lines += chunk.count(b"\n")
                    ends_with_newline = chunk.endswith(b"\n")
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    partial.replace(output)
    lines += 0 if ends_with_newline else 1
    summary = {"path": str(output), "entries": lines, "bytes": size}
    ctx.out.result(
        summary, lambda: f"wrote {lines} audit entries ({human_bytes(size)}) to {output}"
    )
    return 0
