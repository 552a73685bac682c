"""Benchmark ``runtime``: Consortium's NATS runtime against Flower's own, on the same apps.

What it measures (all on this machine, one thing at a time):

* **Round time.** :mod:`consortium_bench.apps.tiny` (a 2-layer MLP, one SGD step per round, so
  a round is almost all runtime overhead) runs ``consortium_rounds`` rounds on Consortium — a
  private JetStream ``nats-server``, a fresh Postgres database, the ``consortium-coordinator``
  service and N ``consortium-client run`` processes, the job created through the REST API — and
  ``flower_rounds`` rounds on Flower 1.42's ``flower-superlink`` + N ``flower-supernode``
  (:func:`consortium_bench.flower_runtime.run_on_flower`), for each N in ``nodes``. A runtime's
  round time is the median of rounds 2..R (round 1 carries start-up costs).
  ``speedup_vs_flower`` = Flower's round time / Consortium's, for the smallest N.
* **Model transfer.** :mod:`consortium_bench.apps.transfer` sends a ResNet-18-sized
  ``ArrayRecord`` (62 float32 arrays, 11,689,512 parameters, 46.76 MB) to one client, which
  echoes it back, ``transfer_repeats`` times through Consortium's runtime (and, for comparison
  unless disabled, ``flower_transfer_repeats`` times through Flower's). ``model_transfer_mb_s``
  = 2 x model MB / median round trip (bytes moved in both directions per second);
  ``model_transfer_one_way_equivalent_mb_s`` = model MB / median round trip.

Every server binds 127.0.0.1 on a free port; every process started here (and its children) is
stopped, and the database dropped, before :func:`run` returns or raises. Logs stay under
``<out>/runtime-work/``.

Command line (the same as ``python -m consortium_bench --bench runtime``, with knobs)::

    python -m consortium_bench.runtime --nodes 2,5 --rounds 11 --flower-rounds 4 --repeats 9
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from consortium_bench.apps.transfer import RESNET18_NUM_PARAMS, resnet18_shapes
from consortium_bench.flower_runtime import (
    FlowerRuntimeError,
    _base_env,
    _check_alive,
    _count_lines,
    _Proc,
    _start,
    _stop_all,
    run_on_flower,
)
from consortium_bench.timing import read_round_times, round_durations, summarize

__all__ = [
    "GOALS",
    "BenchmarkError",
    "ConsortiumStack",
    "main",
    "model_transfer_rates",
    "nats_server_info",
    "run",
    "table",
]

NAME = "runtime"
TINY = "consortium_bench.apps.tiny"
TRANSFER = "consortium_bench.apps.transfer"
GOALS: dict[str, float] = {"speedup_vs_flower": 200.0, "model_transfer_mb_s": 800.0}

DEFINITIONS = {
    "round_s": "wall time of one federated round of consortium_bench.apps.tiny (2-layer MLP, "
    "one SGD step; train + evaluate on every node, plus the runtime's per-round work, e.g. "
    "Consortium's checkpoint and database record), taken from timestamps that the ServerApp "
    "writes; *_round_s is the median of rounds 2..R",
    "speedup": "flower_round_s / consortium_round_s for the same N",
    "speedup_vs_flower": "speedup for the smallest N measured",
    "model_mb": "array data of the transfer model in MB (1 MB = 1e6 bytes): 62 float32 arrays "
    "with the shapes of torchvision's resnet18, 11,689,512 parameters",
    "model_transfer_round_trip_s": "median over round trips 2..K of the wall time of one "
    "grid.send_and_receive() in the ServerApp: the model goes to one client in a train "
    "message, the ClientApp echoes the ArrayRecord back; Flower message serialization, "
    "transport and the runtime's checks on the reply included",
    "model_transfer_mb_s": "2 * model_mb / model_transfer_round_trip_s: model bytes moved "
    "in both directions per second",
    "model_transfer_one_way_equivalent_mb_s": "model_mb / model_transfer_round_trip_s: the "
    "rate at which a whole model goes out *and* comes back",
}

ENV = {
    "FLWR_DISABLE_UPDATE_CHECK": "1",
    "FLWR_TELEMETRY_ENABLED": "0",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONUNBUFFERED": "1",
}

#: While a job runs, the coordinator's API is asked about it this seldom (each request is a
#: database query in the coordinator, which would disturb the timings on a small machine);
#: the timing file is watched in between, as flower_runtime does.
JOB_POLL_S = 5.0


class BenchmarkError(RuntimeError):
    """A process died, a job failed, or something did not happen in time."""


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nats_server_info(port: int, host: str = "127.0.0.1", timeout_s: float = 5.0) -> dict[str, Any]:
    """The ``INFO`` JSON a NATS server sends first on every client connection."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        data = b""
        while b"\r\n" not in data:
            part = sock.recv(65536)
            if not part:
                break
            data += part
    line = data.split(b"\r\n", 1)[0]
    if not line.startswith(b"INFO "):
        raise BenchmarkError(f"not a NATS server on {host}:{port}: {line[:80]!r}")
    return dict(json.loads(line[5:]))


def _http(method: str, url: str, body: Mapping[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        text = err.read().decode("utf-8", "replace")
        try:
            return err.code, json.loads(text)
        except ValueError:
            return err.code, text


def model_transfer_rates(model_bytes: int, round_trips_s: Sequence[float]) -> dict[str, float]:
    """The model-transfer figures of the report, from the round trips (median of 2..K)."""
    median = summarize(round_trips_s)
    model_mb = model_bytes / 1e6
    return {
        "model_mb": model_mb,
        "model_transfer_round_trip_s": median,
        "model_transfer_mb_s": 2 * model_mb / median,
        "model_transfer_one_way_equivalent_mb_s": model_mb / median,
    }


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """CPU, OS, Python and library versions of this machine."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "cpu_model": cpu_model,
        "load_avg_1m_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "flwr": _version("flwr"),
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "nats_py": _version("nats-py"),
    }


# --------------------------------------------------------------------------------------------
# Consortium: NATS + Postgres + coordinator + clients
# --------------------------------------------------------------------------------------------


class ConsortiumStack:
    """A private Consortium deployment on this machine; use as a context manager.

    Starts a JetStream ``nats-server`` and the coordinator (on a fresh database) on entry; stops
    every process (clients included) and drops the database on exit.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        startup_timeout_s: float = 120.0,
        nats_max_payload: int | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.nats_max_payload = nats_max_payload
        self.logs = self.workdir / "logs"
        self.startup_timeout_s = startup_timeout_s
        self.env = {**_base_env(Path(sys.executable).parent), **ENV}
        self.bin = Path(sys.executable).parent
        self.nats_port = 0
        self.nats_url = ""
        self.nats_info: dict[str, Any] = {}
        self.api = ""
        self.database = f"consortium_bench_{uuid.uuid4().hex[:10]}"
        self._postgres_url = ""
        self._server_procs: list[_Proc] = []
        self._clients: dict[str, _Proc] = {}

    # --- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> ConsortiumStack:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        from consortium_devtools.infra import ensure_postgres, nats_server_binary

        self.logs.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.startup_timeout_s
        store = self.workdir / "nats-store"
        store.mkdir(parents=True, exist_ok=True)
        self.nats_port = _free_port()
        self.nats_url = f"nats://127.0.0.1:{self.nats_port}"
        argv = [nats_server_binary(), "-js", "-sd", str(store), "-a", "127.0.0.1"]
        if self.nats_max_payload is not None:  # no command-line flag for it: a config file
            conf = self.workdir / "nats.conf"
            conf.write_text(f"max_payload: {int(self.nats_max_payload)}\n", encoding="utf-8")
            argv += ["-c", str(conf)]
        nats = _start(
            "nats-server", [*argv, "-p", str(self.nats_port)], self.env, self.workdir, self.logs
        )
        self._server_procs.append(nats)
        self._wait_port(self.nats_port, nats, deadline)
        self.nats_info = nats_server_info(self.nats_port)

        self._postgres_url = ensure_postgres(Path.cwd() / "var")
        database_url = (
            self._postgres_url.replace("postgresql://", "postgresql+asyncpg://", 1)
            + f"/{self.database}"
        )
        port = _free_port()
        self.api = f"http://127.0.0.1:{port}/api/v1"
        coordinator_env = {
            **self.env,
            "CONSORTIUM_COORDINATOR_DATABASE_URL": database_url,
            "CONSORTIUM_COORDINATOR_NATS_URL": self.nats_url,
            "CONSORTIUM_COORDINATOR_HOST": "127.0.0.1",
            "CONSORTIUM_COORDINATOR_PORT": str(port),
        }
        coordinator = _start(
            "coordinator",
            [str(self.bin / "consortium-coordinator")],
            coordinator_env,
            self.workdir,
            self.logs,
        )
        self._server_procs.append(coordinator)
        while True:
            _check_alive_or_raise([coordinator])
            with contextlib.suppress(OSError):
                if _http("GET", f"{self.api}/health")[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchmarkError(f"the coordinator did not answer:\n{coordinator.tail()}")
            time.sleep(0.3)

    def close(self) -> None:
        """Stop clients, the coordinator and NATS (in that order); drop the database."""
        _stop_all(list(self._clients.values()))
        self._clients.clear()
        _stop_all(self._server_procs)  # reversed inside: the coordinator before NATS
        self._server_procs.clear()
        if self._postgres_url:
            try:
                asyncio.run(_drop_database(self._postgres_url, self.database))
            except Exception as err:  # report it, but let the benchmark's result stand
                print(f"could not drop database {self.database}: {err}", file=sys.stderr)
            self._postgres_url = ""
        shutil.rmtree(self.workdir / "nats-store", ignore_errors=True)

    @staticmethod
    def _wait_port(port: int, proc: _Proc, deadline: float) -> None:
        while time.monotonic() < deadline:
            _check_alive_or_raise([proc])
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                return
            time.sleep(0.1)
        raise BenchmarkError(f"{proc.name} did not listen on port {port}:\n{proc.tail()}")

    # --- clients ------------------------------------------------------------------------------
    def start_clients(self, prefix: str, count: int, app: str) -> list[str]:
        """Start ``count`` ``consortium-client run`` processes serving ``app``; return ids."""
        ids = []
        for i in range(count):
            participant = f"{prefix}-{i}"
            argv = [
                str(self.bin / "consortium-client"),
                "run",
                "--participant",
                participant,
                "--nats",
                self.nats_url,
                "--app",
                app,
                "--node-config",
                f"partition-id={i} num-partitions={count}",
            ]
            self._clients[participant] = _start(
                f"client-{participant}", argv, self.env, self.workdir, self.logs
            )
            ids.append(participant)
        return ids

    def stop_clients(self, participants: Sequence[str]) -> None:
        """Stop these clients (each says it is offline as it stops)."""
        _stop_all([self._clients.pop(p) for p in participants if p in self._clients])

    def online(self, task: str) -> set[str]:
        """Participants the coordinator sees online with ``task``."""
        code, body = _http("GET", f"{self.api}/participants")
        if code != 200:
            raise BenchmarkError(f"GET /participants answered {code}: {body}")
        return {p["participant_id"] for p in body if p["online"] and task in p["tasks"]}

    def wait_online(self, participants: Sequence[str], task: str, timeout_s: float) -> None:
        """Wait until exactly ``participants`` are online with ``task``."""
        deadline = time.monotonic() + timeout_s
        seen: set[str] = set()
        while time.monotonic() < deadline:
            self._check_alive()
            seen = self.online(task)
            if seen == set(participants):
                return
            time.sleep(0.3)
        raise BenchmarkError(f"expected {sorted(participants)} online with {task}, saw {seen}")

    # --- jobs ---------------------------------------------------------------------------------
    def run_job(
        self,
        *,
        task: str,
        client_task: str,
        rounds: int,
        min_participants: int,
        config: Mapping[str, bool | int | float | str],
        timing_file: Path,
        timeout_s: float,
    ) -> list[float]:
        """Create a job, wait until it completes, return its rounds' wall times (timing file)."""
        timing_file.unlink(missing_ok=True)
        body = {
            "name": f"bench {Path(task.split(':')[0]).suffix.lstrip('.')}",
            "task": task,
            "client_task": client_task,
            "rounds": rounds,
            "min_participants": min_participants,
            "config": {**config, "timing-file": str(timing_file)},
        }
        code, created = _http("POST", f"{self.api}/jobs", body)
        if code != 201:
            raise BenchmarkError(f"POST /jobs answered {code}: {created}")
        job_id = created["id"]
        deadline = time.monotonic() + timeout_s
        next_poll = time.monotonic() + JOB_POLL_S
        job: dict[str, Any] = created
        while True:
            self._check_alive()
            done = _count_lines(timing_file) >= rounds + 1
            now = time.monotonic()
            if done or now >= next_poll:
                code, job = _http("GET", f"{self.api}/jobs/{job_id}")
                if code != 200:
                    raise BenchmarkError(f"GET /jobs/{job_id} answered {code}: {job}")
                if job["status"] in ("completed", "failed", "stopped"):
                    break
                next_poll = time.monotonic() + (0.2 if done else JOB_POLL_S)
            if now > deadline:
                raise BenchmarkError(
                    f"job {job_id} did not finish in {timeout_s:.0f} s (status {job['status']}, "
                    f"{_count_lines(timing_file)} of {rounds + 1} timestamps); coordinator log:\n"
                    f"{self._server_procs[-1].tail()}"
                )
            time.sleep(0.05 if done else 0.2)
        if job["status"] != "completed":
            raise BenchmarkError(
                f"job {job_id} ended {job['status']}: {job.get('reason')}; coordinator log:\n"
                f"{self._server_procs[-1].tail()}"
            )
        stamps = read_round_times(timing_file)
        if len(stamps) != rounds + 1:
            raise BenchmarkError(f"job {job_id}: expected {rounds + 1} timestamps, got {stamps}")
        return round_durations(stamps)

    def _check_alive(self) -> None:
        _check_alive_or_raise([*self._server_procs, *self._clients.values()])


def _check_alive_or_raise(procs: list[_Proc]) -> None:
    try:
        _check_alive(procs)
    except FlowerRuntimeError as err:
        raise BenchmarkError(str(err)) from err


async def _drop_database(postgres_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{postgres_url}/postgres", timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------


def _log(msg: str) -> None:
    print(f"[runtime {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(
    out_dir: Path,
    *,
    nodes: Sequence[int] = (2, 5),
    consortium_rounds: int = 11,
    flower_rounds: int = 4,
    transfer_repeats: int = 9,
    flower_transfer_repeats: int = 4,
    flower_transfer: bool = True,
    nats_max_payload: int | None = None,
    seed: int = 0,
    log: Callable[[str], None] = _log,
) -> dict[str, Any]:
    """Run the benchmark; return the report (see the module docstring and ``definitions``)."""
    t_begin = time.monotonic()
    nodes = sorted(set(nodes))
    work = Path(out_dir).resolve() / f"{NAME}-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    report: dict[str, Any] = {
        "benchmark": NAME,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
    }
    consortium: dict[int, list[float]] = {}
    flower: dict[int, list[float]] = {}
    transfer_trips: list[float] = []

    log(f"Consortium: starting nats-server, Postgres database and coordinator in {work}")
    with ConsortiumStack(work / "consortium", nats_max_payload=nats_max_payload) as stack:
        report["nats"] = {
            "server_version": stack.nats_info.get("version"),
            "max_payload": stack.nats_info.get("max_payload"),
            "jetstream": bool(stack.nats_info.get("jetstream")),
        }
        for n in nodes:
            ids = stack.start_clients(f"bench-n{n}", n, f"{TINY}:client_app")
            stack.wait_online(ids, f"{TINY}:client_app", timeout_s=180)
            log(f"Consortium: {n} clients online; {consortium_rounds} rounds of {TINY}")
            consortium[n] = stack.run_job(
                task=f"{TINY}:server_app",
                client_task=f"{TINY}:client_app",
                rounds=consortium_rounds,
                min_participants=n,
                config={"num-nodes": n, "seed": seed},
                timing_file=work / f"consortium-tiny-n{n}.jsonl",
                timeout_s=300,
            )
            log(f"Consortium: N={n} rounds {_fmt(consortium[n])}")
            stack.stop_clients(ids)
        ids = stack.start_clients("bench-transfer", 1, f"{TRANSFER}:client_app")
        stack.wait_online(ids, f"{TRANSFER}:client_app", timeout_s=180)
        log(f"Consortium: model transfer, {transfer_repeats} round trips")
        transfer_trips = stack.run_job(
            task=f"{TRANSFER}:server_app",
            client_task=f"{TRANSFER}:client_app",
            rounds=transfer_repeats,
            min_participants=1,
            config={"seed": seed},
            timing_file=work / "consortium-transfer.jsonl",
            timeout_s=300,
        )
        log(f"Consortium: round trips {_fmt(transfer_trips)}")
        stack.stop_clients(ids)

    for n in nodes:
        log(f"Flower: {n} SuperNodes, {flower_rounds} rounds of {TINY}")
        flower[n] = run_on_flower(
            server_app=f"{TINY}:server_app",
            client_app=f"{TINY}:client_app",
            num_nodes=n,
            num_rounds=flower_rounds,
            run_config={"seed": seed},
            workdir=work / f"flower-tiny-n{n}",
            timeout_s=420,
        )
        log(f"Flower: N={n} rounds {_fmt(flower[n])}")

    model_bytes = 4 * RESNET18_NUM_PARAMS
    flower_trips: list[float] | None = None
    if flower_transfer:
        log(f"Flower: model transfer, {flower_transfer_repeats} round trips")
        try:
            flower_trips = run_on_flower(
                server_app=f"{TRANSFER}:server_app",
                client_app=f"{TRANSFER}:client_app",
                num_nodes=1,
                num_rounds=flower_transfer_repeats,
                run_config={"seed": seed},
                workdir=work / "flower-transfer",
                timeout_s=420,
            )
            log(f"Flower: round trips {_fmt(flower_trips)}")
        except FlowerRuntimeError as err:  # a comparison only: report it, keep the rest
            report["flower_model_transfer_error"] = str(err)[-2000:]
            log(f"Flower model transfer failed: {str(err)[:300]}")

    per_n = {}
    for n in nodes:
        c, f = summarize(consortium[n]), summarize(flower[n])
        per_n[str(n)] = {
            "consortium_round_s": c,
            "flower_round_s": f,
            "speedup": f / c,
            "consortium_rounds_s": consortium[n],
            "flower_rounds_s": flower[n],
        }
    report["speedup_vs_flower"] = per_n[str(nodes[0])]["speedup"]
    report["speedup_nodes"] = nodes[0]
    report["nodes"] = per_n
    report.update(model_transfer_rates(model_bytes, transfer_trips))
    report["model_transfer_round_trips_s"] = transfer_trips
    report["model_params"] = RESNET18_NUM_PARAMS
    report["model_arrays"] = len(resnet18_shapes())
    if flower_trips is not None:
        rates = model_transfer_rates(model_bytes, flower_trips)
        report["flower_model_transfer"] = {
            "round_trip_s": rates["model_transfer_round_trip_s"],
            "mb_s": rates["model_transfer_mb_s"],
            "one_way_equivalent_mb_s": rates["model_transfer_one_way_equivalent_mb_s"],
            "round_trips_s": flower_trips,
        }
    report["goals"] = dict(GOALS)
    report["goals_met"] = {k: bool(report[k] >= v) for k, v in GOALS.items()}
    report["settings"] = {
        "nodes": nodes,
        "consortium_rounds": consortium_rounds,
        "flower_rounds": flower_rounds,
        "transfer_repeats": transfer_repeats,
        "flower_transfer_repeats": flower_transfer_repeats if flower_transfer else 0,
        "nats_max_payload_requested": nats_max_payload,
        "seed": seed,
        "summary": "median of rounds (round trips) 2..R",
    }
    report["definitions"] = DEFINITIONS
    if hasattr(os, "getloadavg"):
        report["machine"]["load_avg_1m_at_end"] = os.getloadavg()[0]
    report["wall_s"] = time.monotonic() - t_begin
    return report


def _fmt(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in values) + "] s"


def table(report: Mapping[str, Any]) -> str:
    """A short plain-text table of a report made by :func:`run`."""
    lines = [
        f"{'nodes':>5}  {'consortium round':>16}  {'flower round':>12}  {'speedup':>8}",
    ]
    for n, row in report["nodes"].items():
        lines.append(
            f"{n:>5}  {row['consortium_round_s'] * 1e3:>13.1f} ms  "
            f"{row['flower_round_s']:>10.3f} s  {row['speedup']:>7.1f}x"
        )
    goals, met = report["goals"], report["goals_met"]
    lines += [
        "",
        f"speedup_vs_flower ({report['speedup_nodes']} nodes): "
        f"{report['speedup_vs_flower']:.1f}x  (goal {goals['speedup_vs_flower']:g}x: "
        f"{'met' if met['speedup_vs_flower'] else 'NOT met'})",
        f"model transfer ({report['model_mb']:.1f} MB, {report['model_arrays']} arrays): "
        f"round trip {report['model_transfer_round_trip_s'] * 1e3:.0f} ms",
        f"  model_transfer_mb_s (both ways): {report['model_transfer_mb_s']:.0f} MB/s  "
        f"(goal {goals['model_transfer_mb_s']:g}: "
        f"{'met' if met['model_transfer_mb_s'] else 'NOT met'})",
        f"  one-way equivalent: {report['model_transfer_one_way_equivalent_mb_s']:.0f} MB/s",
    ]
    flower_transfer = report.get("flower_model_transfer")
    if flower_transfer:
        lines.append(
            f"  Flower, same app: round trip {flower_transfer['round_trip_s'] * 1e3:.0f} ms, "
            f"{flower_transfer['mb_s']:.0f} MB/s both ways"
        )
    nats = report.get("nats", {})
    lines.append(
        f"NATS {nats.get('server_version')} (max_payload {nats.get('max_payload')} B); "
        f"wall time {report['wall_s']:.0f} s"
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    """``python -m consortium_bench.runtime``: the runtime benchmark with its knobs exposed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("var/bench"))
    parser.add_argument("--nodes", type=_int_list, default=[2, 5], help="e.g. 2,5")
    parser.add_argument("--rounds", type=int, default=11, help="Consortium rounds")
    parser.add_argument("--flower-rounds", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=9, help="model round trips (Consortium)")
    parser.add_argument("--flower-repeats", type=int, default=4, help="model round trips (Flower)")
    parser.add_argument("--no-flower-transfer", action="store_true")
    parser.add_argument("--nats-max-payload", type=int, default=None, help="bytes (server's)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report = run(
        args.out,
        nodes=args.nodes,
        consortium_rounds=args.rounds,
        flower_rounds=args.flower_rounds,
        transfer_repeats=args.repeats,
        flower_transfer_repeats=args.flower_repeats,
        flower_transfer=not args.no_flower_transfer,
        nats_max_payload=args.nats_max_payload,
    )
    path = args.out / f"{NAME}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(report))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
