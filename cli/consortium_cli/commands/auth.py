"""``consortium login``, ``logout`` and ``whoami``: the stored session."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..client import GatewayClient
from ..config import DEFAULT_ENDPOINTS, load_endpoints, resolve_login
from ..context import Context
from ..errors import CliError, UsageError
from ..output import human_time, render_fields
from ..passwords import ask_password, read_password_file
from ..session import Session, delete_session, save_session
from . import Subparsers, add_leaf

__all__ = ["register"]


def register(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    login = add_leaf(
        commands,
        "login",
        _login,
        help="log in at the gateway and remember the session",
        description=(
            "Log in at the gateway and store the session (mode 0600). After `make up`, run "
            "from the repository to take the gateway, CA and admin from var/run/endpoints.json."
        ),
        common=common,
    )
    login.add_argument("--gateway", metavar="URL", help="the gateway, https://host:port")
    login.add_argument("--ca", metavar="FILE", help="the platform CA certificate (PEM)")
    login.add_argument("--username", "-u", metavar="NAME", help="the operator to log in as")
    login.add_argument(
        "--password-file", type=Path, metavar="FILE", help="read the password from FILE"
    )
    login.add_argument(
        "--endpoints",
        type=Path,
        metavar="FILE",
        help=f"take gateway, CA and operator from FILE (default: {DEFAULT_ENDPOINTS} if present)",
    )
    add_leaf(commands, "logout", _logout, help="forget the stored session", common=common)
    add_leaf(commands, "whoami", _whoami, help="who the session speaks for", common=common)


def _login(args: argparse.Namespace, ctx: Context) -> int:
    endpoints_file: Path | None = args.endpoints
    if endpoints_file is None and DEFAULT_ENDPOINTS.is_file():
        endpoints_file = DEFAULT_ENDPOINTS
    endpoints = load_endpoints(endpoints_file) if endpoints_file else None
    target = resolve_login(
        ctx.env,
        gateway=args.gateway,
        ca_cert=args.ca,
        username=args.username,
        password_file=args.password_file,
        endpoints=endpoints,
        session=_stored_or_none(ctx),
    )
    if not target.username:
        raise UsageError("who are you? Pass --username NAME")
    if target.password_file is not None:
        password = read_password_file(target.password_file)
    else:
        password = ask_password(f"Password for {target.username} at {target.gateway_url}: ")
    with GatewayClient(target.gateway_url, ca_cert=target.ca_cert) as client:
        login = client.login(target.username, password)
    session = Session(
        gateway_url=target.gateway_url,
        ca_cert=target.ca_cert,
        token=login["access_token"],
        username=login["username"],
        role=login["role"],
        expires_at=str(login["expires_at"]),
    )
    save_session(ctx.session_file, session)
    public = {k: v for k, v in login.items() if k != "access_token"}
    ctx.out.result(
        {**public, "gateway_url": session.gateway_url, "session_file": str(ctx.session_file)},
        lambda: (
            f"logged in to {session.gateway_url} as {session.username} ({session.role}); "
            f"the session lasts until {human_time(session.expires_at)} UTC"
        ),
    )
    return 0


def _stored_or_none(ctx: Context) -> Session | None:
    """A damaged session file must not stop anyone from logging in again."""
    try:
        return ctx.session()
    except CliError:
        return None


def _logout(args: argparse.Namespace, ctx: Context) -> int:
    removed = delete_session(ctx.session_file)
    ctx.out.result(
        {"logged_out": removed, "session_file": str(ctx.session_file)},
        lambda: "logged out" if removed else "not logged in; nothing to forget",
    )
    return 0


def _whoami(args: argparse.Namespace, ctx: Context) -> int:
    connection = ctx.connection()
    with ctx.client() as client:
        me = client.me()
    session = ctx.session()
    expires = (
        session.expires_at if session is not None and connection.token == session.token else None
    )
    ctx.out.result(
        me,
        lambda: render_fields(
            [
                ("operator", me["username"]),
                ("role", me["role"]),
                ("gateway", connection.gateway_url),
                ("session until", f"{human_time(expires)} UTC" if expires else "-"),
            ]
        ),
    )
    return 0
