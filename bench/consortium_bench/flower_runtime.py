"""Run a benchmark Flower app on Flower's own deployment runtime and time its rounds.

:func:`run_on_flower` writes a throwaway Flower app directory whose ``pyproject.toml`` points at
ServerApp/ClientApp objects of the installed ``consortium_bench`` package, starts one
``flower-superlink`` and ``num_nodes`` ``flower-supernode`` processes on free ``127.0.0.1``
ports, submits the run with ``flwr run``, waits for it to finish, stops every process it started
(and their children), and returns the per-round wall times that the app wrote to its timing file
(see :mod:`consortium_bench.timing`).

Everything Flower writes (``FLWR_HOME``: CLI config, installed FABs, credentials) goes under
``workdir``; nothing in the user's home changes. Each process gets its own ``FLWR_HOME`` so that
the SuperNodes do not race to install the same FAB.

Command line::

    python -m consortium_bench.flower_runtime --nodes 2 --rounds 4

prints each round's wall time and the median of rounds 2..R.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from consortium_bench.timing import read_round_times, round_durations, summarize

__all__ = ["FlowerRuntimeError", "main", "run_on_flower"]

#: The name of the SuperLink connection written to the private Flower config.
CONNECTION_NAME = "bench"
#: Flower app identity used for the generated app directory.
APP_PUBLISHER = "consortium"
APP_NAME = "consortium-bench-app"
#: How often the CLI is asked for the run's status while nothing suggests that the run ended.
#: Each ``flwr ls`` is a fresh Python process (1-2 s of CPU) that would disturb the timings on
#: a small machine, so the timing file and the SuperLink log are watched in between.
STATUS_POLL_S = 60.0
LOG_TAIL_CHARS = 4000

_FINISHED_OK = "finished:completed"
_ENV_REMOVE = ("FLWR_INTERNAL_GRPC_CONTROL_API", "FLWR_INTERNAL_GRPC_FLEET_API")


class FlowerRuntimeError(RuntimeError):
    """A Flower runtime process died, the run failed, or it did not finish in time."""


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


@dataclass
class _Proc:
    """A process started by this module, with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_fh: IO[bytes] = field(repr=False)

    def tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        return _tail(self.log_path, chars)


def _tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        return f"<cannot read {path}: {err}>"
    return data[-chars:].decode("utf-8", errors="replace")


def _children_map() -> dict[int, list[int]]:
    """``ppid -> [pid, ...]`` for every process visible in ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
        fields = stat.rsplit(")", 1)[-1].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _descendants(pid: int) -> list[int]:
    """All descendants of ``pid`` (children first-level first), read from ``/proc``."""
    if not Path("/proc").is_dir():
        return []
    children = _children_map()
    out: list[int] = []
    stack = list(children.get(pid, []))
    while stack:
        child = stack.pop()
        out.append(child)
        stack.extend(children.get(child, []))
    return out


def _signal_tree(root: int, sig: signal.Signals) -> list[int]:
    """Send ``sig`` to ``root``'s process group and to every descendant; return the pids hit.

    ``root`` was started in its own session, so its process group (id ``root``) holds its
    children even after ``root`` itself has died and they were re-parented. Flower's SuperLink
    starts its SuperExec in a *new* session (and that SuperExec starts the ServerApp process),
    so live descendants are also signalled one by one, with the groups they lead.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(root, sig)
    tree = [root, *_descendants(root)]
    for pid in tree:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if pid != root and os.getpgid(pid) == pid:
                os.killpg(pid, sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    return tree


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"  # zombies are dead


def _stop_all(procs: list[_Proc], grace_s: float = 5.0) -> None:
    """Stop every process in ``procs`` and all their descendants (SIGTERM, then SIGKILL)."""
    pids: set[int] = set()
    for proc in reversed(procs):  # SuperNodes first, the SuperLink last
        pids.update(_signal_tree(proc.popen.pid, signal.SIGTERM))
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        for proc in procs:
            proc.popen.poll()  # reap our direct children
        if not any(_alive(p) for p in pids):
            break
        time.sleep(0.1)
    for proc in reversed(procs):
        pids.update(_signal_tree(proc.popen.pid, signal.SIGKILL))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=5)
        proc.log_fh.close()


def _start(name: str, argv: list[str], env: Mapping[str, str], cwd: Path, logs: Path) -> _Proc:
    log_path = logs / f"{name}.log"
    log_fh = log_path.open("wb")
    popen = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=log_fh,
        stderr=subprocess.STDOUT,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,  # own process group: stopped as a whole
    )
    return _Proc(name=name, popen=popen, log_path=log_path, log_fh=log_fh)


def _check_alive(procs: list[_Proc]) -> None:
    for proc in procs:
        code = proc.popen.poll()
        if code is not None:
            raise FlowerRuntimeError(
                f"{proc.name} exited with code {code} ({proc.log_path}); log tail:\n{proc.tail()}"
            )


# --------------------------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------------------------


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (held open together while choosing)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def _wait_port(port: int, proc: _Proc, deadline: float) -> None:
    while time.monotonic() < deadline:
        _check_alive([proc])
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise FlowerRuntimeError(
        f"{proc.name} did not listen on 127.0.0.1:{port} in time; log tail:\n{proc.tail()}"
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    raise TypeError(f"run_config values must be bool, int, float or str, got {value!r}")


def _write_app(app_dir: Path, server_app: str, client_app: str, config: Mapping[str, Any]) -> None:
    """Write a Flower app directory whose components live in the installed package."""
    app_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        "[project]",
        f'name = "{APP_NAME}"',
        'version = "1.0.0"',
        'description = "Consortium benchmark app (components live in consortium_bench)"',
        'license = "Apache-2.0"',
        "dependencies = []",
        "",
        "[tool.flwr.app]",
        f'publisher = "{APP_PUBLISHER}"',
        "",
        "[tool.flwr.app.components]",
        f"serverapp = {json.dumps(server_app)}",
        f"clientapp = {json.dumps(client_app)}",
        "",
        "[tool.flwr.app.config]",
        *(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in config.items()),
        "",
    ]
    (app_dir / "pyproject.toml").write_text("\n".join(lines), encoding="utf-8")


def _write_flwr_config(flwr_home: Path, superlink_port: int) -> None:
    """A private Flower CLI config whose default SuperLink connection is ours.

    flwr 1.42 reads SuperLink connections from ``$FLWR_HOME/config.toml`` (``[superlink.<name>]``
    with ``address`` / ``insecure``); ``[tool.flwr.federations]`` in an app's pyproject is legacy
    and would be migrated (rewritten) by the CLI. Without this file the CLI creates a default one
    whose ``local`` connection auto-starts a local simulation SuperLink.
    """
    flwr_home.mkdir(parents=True, exist_ok=True)
    (flwr_home / "config.toml").write_text(
        f'[superlink]\ndefault = "{CONNECTION_NAME}"\n\n'
        f"[superlink.{CONNECTION_NAME}]\n"
        f'address = "127.0.0.1:{superlink_port}"\n'
        "insecure = true\n",
        encoding="utf-8",
    )


def _base_env(bin_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _ENV_REMOVE}
    env.update(
        {
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "FLWR_TELEMETRY_ENABLED": "0",
            "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
            # SuperLink/SuperNode launch flower-superexec, flwr-serverapp and flwr-clientapp by
            # bare name: make sure this interpreter's scripts come first.
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    return env


def _bin(bin_dir: Path, name: str) -> str:
    path = bin_dir / name
    if not path.exists():
        raise FlowerRuntimeError(f"{name} not found next to {sys.executable}; is flwr installed?")
    return str(path)


# --------------------------------------------------------------------------------------------
# The CLI
# --------------------------------------------------------------------------------------------


def _flwr_cli(
    bin_dir: Path, args: list[str], env: Mapping[str, str], cwd: Path, timeout_s: float
) -> dict[str, Any]:
    """Run ``flwr <args> --format json`` and return its JSON output."""
    argv = [_bin(bin_dir, "flwr"), *args, "--format", "json"]
    try:
        res = subprocess.run(
            argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise FlowerRuntimeError(f"`flwr {' '.join(args)}` timed out after {timeout_s} s") from err
    out = res.stdout.decode("utf-8", errors="replace")
    err_text = res.stderr.decode("utf-8", errors="replace")
    start = out.find("{")
    try:
        payload = json.loads(out[start:]) if start >= 0 else None
    except json.JSONDecodeError:
        payload = None
    if res.returncode != 0 or not isinstance(payload, dict) or payload.get("success") is False:
        raise FlowerRuntimeError(
            f"`flwr {' '.join(args)}` failed (exit {res.returncode}):\n"
            f"{out[-LOG_TAIL_CHARS:]}\n{err_text[-LOG_TAIL_CHARS:]}"
        )
    return payload


def _run_status(bin_dir: Path, run_id: int, env: Mapping[str, str], cwd: Path) -> str:
    payload = _flwr_cli(bin_dir, ["ls", CONNECTION_NAME, "--run-id", str(run_id)], env, cwd, 60)
    runs = payload.get("runs") or []
    if not runs:
        raise FlowerRuntimeError(f"`flwr ls` does not know run {run_id}: {payload}")
    return str(runs[0].get("status", ""))


def _count_lines(path: Path) -> int:
    try:
        return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    except FileNotFoundError:
        return 0


class _LogWatcher:
    """Reads a growing log file incrementally, line by line."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0
        self._partial = ""

    def any_new_line(self, predicate: Callable[[str], bool]) -> bool:
        """Whether a line completed since the last call satisfies ``predicate``."""
        try:
            with self._path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except OSError:
            return False
        self._offset += len(data)
        *lines, self._partial = (self._partial + data.decode("utf-8", "replace")).split("\n")
        return any(predicate(line) for line in lines)


def _wait_finished(
    bin_dir: Path,
    run_id: int,
    env: Mapping[str, str],
    cwd: Path,
    procs: list[_Proc],
    timing_file: Path,
    num_rounds: int,
    deadline: float,
    timeout_s: float,
) -> str:
    """Wait until the run is ``finished:*`` and return that status.

    ``flwr ls`` is asked about once a second only once there is a reason to think the run
    ended: all timestamps are written, or the SuperLink logged that the run's ServerApp task
    finished (successfully or not); otherwise every :data:`STATUS_POLL_S` seconds.
    """
    link = procs[0]
    watcher = _LogWatcher(link.log_path)
    suffix = f"of run {run_id}"

    def task_finished(line: str) -> bool:
        return "Finished task" in line and line.rstrip().endswith(suffix)

    status = ""
    ended = False
    next_status = time.monotonic() + STATUS_POLL_S
    next_quick = 0.0
    while True:
        _check_alive(procs)
        ended = ended or watcher.any_new_line(task_finished)
        quick = ended or _count_lines(timing_file) >= num_rounds + 1
        now = time.monotonic()
        if now >= next_status or (quick and now >= next_quick):
            status = _run_status(bin_dir, run_id, env, cwd)
            if status.startswith("finished"):
                return status
            now = time.monotonic()
            next_status, next_quick = now + STATUS_POLL_S, now + 1.0
        if now >= deadline:
            raise FlowerRuntimeError(
                f"run {run_id} did not finish within {timeout_s} s (status {status!r}, "
                f"{_count_lines(timing_file)} of {num_rounds + 1} timestamps); superlink "
                f"log tail:\n{link.tail()}"
            )
        time.sleep(0.2)


def _run_log_tail(bin_dir: Path, run_id: int, env: Mapping[str, str], cwd: Path, logs: Path) -> str:
    """The run's ServerApp log (``flwr log <run> --show``), saved to ``logs/serverapp.log``."""
    argv = [_bin(bin_dir, "flwr"), "log", str(run_id), CONNECTION_NAME, "--show"]
    try:
        res = subprocess.run(
            argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "<`flwr log` timed out>"
    text = res.stdout.decode("utf-8", errors="replace") + res.stderr.decode(
        "utf-8", errors="replace"
    )
    (logs / "serverapp.log").write_text(text, encoding="utf-8")
    return text[-LOG_TAIL_CHARS:]


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def run_on_flower(
    *,
    server_app: str,
    client_app: str,
    num_nodes: int,
    num_rounds: int,
    run_config: Mapping[str, bool | int | float | str],
    workdir: Path,
    timeout_s: float,
) -> list[float]:
    """Run an app on Flower's SuperLink/SuperNode runtime; return each round's wall time (s).

    ``server_app`` / ``client_app`` are object references (``"module:attribute"``) importable
    from this interpreter, e.g. ``"consortium_bench.apps.tiny:server_app"``. The app receives
    ``run_config`` plus ``num-server-rounds``, ``num-nodes`` and ``timing-file`` (these three are
    set here) and must append one timestamp per round to ``timing-file`` (round 0 first), as
    :mod:`consortium_bench.apps.tiny` does. SuperNode ``i`` gets the node config
    ``partition-id=i num-partitions=num_nodes``.

    All processes are stopped before this returns or raises. Logs stay in ``workdir/logs``.

    Raises :class:`FlowerRuntimeError` (with the tail of the relevant log) if a process dies,
    the run ends in any state other than ``finished:completed``, or ``timeout_s`` passes.
    """
    if num_nodes < 1 or num_rounds < 1:
        raise ValueError("num_nodes and num_rounds must be >= 1")
    t_begin = time.monotonic()
    deadline = t_begin + timeout_s
    workdir = Path(workdir).resolve()
    app_dir, logs, homes = workdir / "app", workdir / "logs", workdir / "flwr-home"
    for d in (logs, homes):
        d.mkdir(parents=True, exist_ok=True)
    timing_file = workdir / "timing.jsonl"
    timing_file.unlink(missing_ok=True)

    config: dict[str, Any] = dict(run_config)
    config.update(
        {
            "num-server-rounds": num_rounds,
            "num-nodes": num_nodes,
            "timing-file": str(timing_file),
        }
    )
    _write_app(app_dir, server_app, client_app, config)

    bin_dir = Path(sys.executable).parent
    env = _base_env(bin_dir)
    link_port, *node_ports = _free_ports(1 + num_nodes)
    cli_env = {**env, "FLWR_HOME": str(homes / "cli")}
    _write_flwr_config(homes / "cli", link_port)

    procs: list[_Proc] = []
    try:
        link = _start(
            "superlink",
            [
                _bin(bin_dir, "flower-superlink"),
                "--insecure",
                "--host",
                "127.0.0.1",
                "--port",
                str(link_port),
                "--disable-runtime-dependency-installation",
            ],
            {**env, "FLWR_HOME": str(homes / "superlink")},
            workdir,
            logs,
        )
        procs.append(link)
        _wait_port(link_port, link, deadline)

        for i, port in enumerate(node_ports):
            procs.append(
                _start(
                    f"supernode-{i}",
                    [
                        _bin(bin_dir, "flower-supernode"),
                        "--insecure",
                        "--superlink",
                        f"127.0.0.1:{link_port}",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--node-config",
                        f"partition-id={i} num-partitions={num_nodes}",
                    ],
                    {**env, "FLWR_HOME": str(homes / f"supernode-{i}")},
                    workdir,
                    logs,
                )
            )
        for proc, port in zip(procs[1:], node_ports, strict=True):
            _wait_port(port, proc, deadline)

        started = _flwr_cli(
            bin_dir,
            ["run", str(app_dir), CONNECTION_NAME],
            cli_env,
            workdir,
            max(1.0, deadline - time.monotonic()),
        )
        run_id = int(started["run-id"])
        (logs / "run.json").write_text(json.dumps(started, indent=2), encoding="utf-8")

        status = _wait_finished(
            bin_dir, run_id, cli_env, workdir, procs, timing_file, num_rounds, deadline, timeout_s
        )
        if status != _FINISHED_OK:
            raise FlowerRuntimeError(
                f"run {run_id} ended as {status!r}; ServerApp log tail (`flwr log`):\n"
                f"{_run_log_tail(bin_dir, run_id, cli_env, workdir, logs)}"
            )
        try:
            stamps = read_round_times(timing_file)
        except (OSError, ValueError) as err:
            raise FlowerRuntimeError(
                f"run {run_id} finished but its timing file is unusable: {err}; superlink log "
                f"tail:\n{link.tail()}"
            ) from err
        if len(stamps) != num_rounds + 1:
            raise FlowerRuntimeError(
                f"run {run_id}: expected {num_rounds + 1} timestamps, got {len(stamps)}"
            )
        return round_durations(stamps)
    finally:
        _stop_all(procs)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _workdir(path: str | None) -> Iterator[Path]:
    if path:
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        yield p
    else:
        with tempfile.TemporaryDirectory(prefix="consortium-bench-flower-") as tmp:
            yield Path(tmp)


def main(argv: list[str] | None = None) -> int:
    """``python -m consortium_bench.flower_runtime``: time an app's rounds on Flower's runtime."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2, help="number of SuperNodes")
    parser.add_argument("--rounds", type=int, default=4, help="number of rounds")
    parser.add_argument("--app", default="consortium_bench.apps.tiny", help="app module")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds for the whole run")
    parser.add_argument("--workdir", default=None, help="keep logs here (default: a temp dir)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = parser.parse_args(argv)

    with _workdir(args.workdir) as workdir:
        t0 = time.monotonic()
        durations = run_on_flower(
            server_app=f"{args.app}:server_app",
            client_app=f"{args.app}:client_app",
            num_nodes=args.nodes,
            num_rounds=args.rounds,
            run_config={"seed": args.seed},
            workdir=workdir,
            timeout_s=args.timeout,
        )
        total = time.monotonic() - t0
    median = summarize(durations)
    if args.json:
        print(
            json.dumps(
                {
                    "nodes": args.nodes,
                    "rounds": args.rounds,
                    "round_s": durations,
                    "median_rounds_2_to_R_s": median,
                    "total_s": total,
                }
            )
        )
    else:
        for r, d in enumerate(durations, start=1):
            print(f"round {r}: {d:.2f} s")
        label = f"rounds 2..{args.rounds}" if args.rounds > 1 else "round 1"
        print(f"median of {label}: {median:.2f} s  ({args.nodes} nodes)")
        print(f"total run_on_flower wall time: {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
