"""``consortium operators``: the people who run the platform, and their roles (admin)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..context import Context
from ..output import Column, human_time, render_table
from ..passwords import ask_password, read_password_file
from . import Subparsers, add_group, add_leaf

__all__ = ["ROLES", "register"]

ROLES = ("viewer", "job_operator", "admin")
"""Viewers read, job operators also run jobs, admins do all."""


def register(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    operators = add_group(commands, "operators", help="operator accounts and roles (admin)")
    add_leaf(operators, "list", _list, help="every operator account", common=common)
    create = add_leaf(
        operators, "create", _create, help="create an operator account", common=common
    )
    create.add_argument("username", metavar="USERNAME")
    create.add_argument(
        "--role",
        required=True,
        choices=ROLES,
        help="viewer (reads), job_operator (also runs jobs) or admin (all)",
    )
    create.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help="read the new password from FILE (else asked twice; at least 12 characters)",
    )


def _list(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        operators = client.list_operators()
    columns = [
        Column("USERNAME", "username"),
        Column("ROLE", "role"),
        Column("CREATED (UTC)", lambda o: human_time(o.get("created_at"))),
    ]
    ctx.out.result(operators, lambda: render_table(operators, columns))
    return 0


def _create(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        if args.password_file is not None:
            password = read_password_file(args.password_file)
        else:
            password = ask_password(
                f"Password for the new operator {args.username}: ", confirm=True
            )
        created = client.create_operator(username=args.username, password=password, role=args.role)
    ctx.out.result(
        created, lambda: f"operator {created['username']} created with role {created['role']}"
    )
    return 0
