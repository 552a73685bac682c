"""``consortium``: the operators' command line; every request goes to the gateway.

Exit codes: 0 done; 1 the gateway refused or the job did not complete; 2 bad usage;
3 the gateway cannot be reached. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__
from .commands import audit, auth, jobs, operators, participants, tokens
from .config import Environment
from .context import Context
from .errors import EXIT_USAGE, CliError
from .output import Output

__all__ = ["build_parser", "main"]

COMMAND_GROUPS = (auth, jobs, participants, tokens, audit, operators)
"""Each registers its subcommands, in the order ``--help`` lists them."""
EXIT_INTERRUPTED = 130

EPILOG = """\
examples (after `make up`, from the repository):
  consortium login                       # gateway, CA and admin from var/run/endpoints.json
  consortium participants create hospital-7 --name "Hospital 7"
  consortium tokens create hospital-7
  consortium jobs create --task digits-cnn --rounds 5 --min-participants 3 --watch
  consortium jobs model JOB_ID -o model.safetensors

environment: CONSORTIUM_GATEWAY_URL, CONSORTIUM_TOKEN and CONSORTIUM_CA_CERT override the
stored session; CONSORTIUM_CLI_HOME holds it (default ~/.config/consortium).
exit codes: 0 ok, 1 refused or job not completed, 2 usage, 3 gateway unreachable."""


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; ``--json`` is accepted before or after the subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="machine-readable output on stdout (the gateway's JSON)",
    )
    parser = argparse.ArgumentParser(
        prog="consortium",
        description="The operators' command line for Consortium, speaking to its gateway.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return (and, as a console script, exit with) its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Output(json_mode=bool(getattr(args, "json", False)))
    ctx = Context(out=out, env=Environment.read())
    try:
        code: int = args.handler(args, ctx)
    except CliError as exc:
        out.note(f"consortium: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        out.note("\nconsortium: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`consortium audit list | head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        out.note(f"consortium: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
