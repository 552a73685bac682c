"""One module per resource group; each adds its subcommands with ``register(commands, common)``
and gives every leaf parser a ``handler(args, ctx) -> exit code``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

from ..context import Context

__all__ = ["Handler", "Subparsers", "add_group", "add_leaf", "natural_int", "positive_int"]

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler = Callable[[argparse.Namespace, Context], int]


def add_leaf(
    subparsers: Subparsers,
    name: str,
    handler: Handler,
    *,
    help: str,
    common: argparse.ArgumentParser,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """A runnable subcommand with the common options (``--json``)."""
    parser = subparsers.add_parser(
        name, help=help, description=description or help, parents=[common]
    )
    parser.set_defaults(handler=handler)
    return parser


def add_group(subparsers: Subparsers, name: str, *, help: str) -> Subparsers:
    """A command group such as ``jobs``; its own subcommand is required."""
    parser = subparsers.add_parser(name, help=help, description=help)
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    return _bounded_int(text, minimum=1)


def natural_int(text: str) -> int:
    """An argparse type: an integer of at least 0."""
    return _bounded_int(text, minimum=0)


def _bounded_int(text: str, *, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from exc
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}: {value}")
    return value
