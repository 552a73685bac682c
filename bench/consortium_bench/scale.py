"""Benchmark ``scale``: one round of task ``devices-logreg`` over 10,000 virtual clients.

Consortium's virtual Grid (:mod:`consortium_tasks.virtual`: the task's own ServerApp and
ClientApp, every client sampled, no federated evaluation) against Flower's own simulation
(``flwr[simulation]``, Ray) with the same ServerApp and ClientApp objects, for as many clients
as finish within a time cap. Each run is a child process (``python -m consortium_bench.scale
virtual|flower``), so that its memory is its own; its peak memory is the sum over its process
tree (the child, its workers, Ray's daemons) of each process's high-water mark (``VmHWM`` in
``/proc/<pid>/status``, polled): pages shared between processes count once per process, an
upper bound. Reported:

* ``seconds_10k``: the virtual run, from starting its workers to the end of the round and the
  held-out evaluation (imports excluded; ``process_seconds`` is the child's whole life);
* ``cpu_seconds`` of that run (the child and its workers) and ``cpu_bound_seconds``, that over
  the machine's cores: what ``seconds_10k`` would be with every core busy on it alone (the
  machine is shared; under load the wall time is longer);
* ``peak_rss_gb``, ``accuracy_before`` / ``accuracy_after`` (held-out, 200 unseen devices);
* ``flower``: per number of clients, seconds (the run, Ray's start included; imports not),
  peak memory and the outcome (``ok``, ``timeout`` at ``flower_timeout_s``, ``error``);
* the load average before and after: this 2-core machine is shared, and times move with it.

Goals (the issue): ``seconds_10k`` <= 30, ``peak_rss_gb`` <= 4.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["GOALS", "run", "table"]

GOALS = {"seconds_10k": 30.0, "peak_rss_gb": 4.0}
NUM_CLIENTS = 10_000
FLOWER_SIZES = (100, 1000)
FLOWER_TIMEOUT_S = 150.0
TASK = "devices-logreg"
RUN_CONFIG = {
    "num-server-rounds": 1,
    "fraction-train": 1.0,
    "fraction-evaluate": 0.0,
    "min-participants": 1,
    "membership-audit": False,
}
RESULT_PREFIX = "SCALE-RESULT "
POLL_S = 0.2
GIB = 1024**3


# ---- memory of a process tree ------------------------------------------------------------


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
                kids.extend(int(k) for k in handle.read().split())
    except OSError:
        pass
    return kids


def _high_water_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeMemory:
    """Polls a process tree; :attr:`peak_gb` sums each process's highest ``VmHWM`` seen."""

    def __init__(self, root: int) -> None:
        self._root = root
        self._peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        """Read every process of the tree once."""
        pending = [self._root]
        while pending:
            pid = pending.pop()
            self._peaks[pid] = max(self._peaks.get(pid, 0), _high_water_kb(pid))
            pending.extend(_children(pid))

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(POLL_S)

    @property
    def peak_gb(self) -> float:
        """Sum over the processes seen of their peak resident memory, in GiB."""
        return sum(self._peaks.values()) * 1024 / GIB

    @property
    def processes(self) -> int:
        """How many processes the tree has had."""
        return len(self._peaks)


# ---- child processes ---------------------------------------------------------------------


def _quiet_child() -> None:
    import logging

    import torch
    from flwr.common.logger import FLOWER_LOGGER

    torch.set_num_threads(1)
    FLOWER_LOGGER.setLevel(logging.WARNING)


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that ended (user + system)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def virtual_child(num_clients: int, workers: int | None) -> dict[str, Any]:
    """One round over ``num_clients`` virtual clients, in this process and its workers."""
    _quiet_child()
    from consortium_tasks.registry import get_task, load_app
    from consortium_tasks.virtual import simulate_virtual

    load_app(get_task(TASK).server_app)  # imports are not the simulation's time
    cpu_before = _cpu_seconds()
    result = simulate_virtual(TASK, num_clients=num_clients, run_config=RUN_CONFIG, workers=workers)
    return {
        "seconds": result.seconds,
        "cpu_seconds": _cpu_seconds() - cpu_before,  # the workers have ended: counted
        "accuracy_before": result.round_metrics[0]["accuracy"],
        "accuracy_after": result.round_metrics[max(result.round_metrics)]["accuracy"],
        "calls": result.calls,
        "failures": result.failures,
    }


def flower_child(num_clients: int, cpus: int) -> dict[str, Any]:
    """One round of the same ServerApp and ClientApp on Flower's Ray simulation."""
    _quiet_child()
    from consortium_tasks.registry import get_task, load_app
    from flwr.app import Context, RecordDict
    from flwr.simulation.run_simulation import _run_simulation
    from flwr.supercore.telemetry import EventType

    spec = get_task(TASK)
    server_app, client_app = load_app(spec.server_app), load_app(spec.client_app)
    # run_simulation() has no run config; its private twin takes the ServerApp's Context
    context = Context(
        run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config=dict(RUN_CONFIG)
    )
    backend_config: Any = {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {
            "num_cpus": cpus,
            "num_gpus": 0,
            "include_dashboard": False,
            "object_store_memory": 512 * 1024**2,
        },
    }
    started = time.perf_counter()
    _run_simulation(
        num_supernodes=num_clients,
        exit_event=EventType.PYTHON_API_RUN_SIMULATION_LEAVE,
        client_app=client_app,  # type: ignore[arg-type]
        server_app=server_app,  # type: ignore[arg-type]
        backend_name="ray",
        backend_config=backend_config,
        server_app_context=context,
    )
    return {"seconds": time.perf_counter() - started}


def _run_child(args: Sequence[str], timeout_s: float) -> dict[str, Any]:
    """Run ``python -m consortium_bench.scale ARGS``; its result, outcome and tree memory."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "FLWR_DISABLE_UPDATE_CHECK": "1",
        "FLWR_TELEMETRY_ENABLED": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    started = time.perf_counter()
    process = subprocess.Popen(  # our own module, fixed arguments
        [sys.executable, "-m", "consortium_bench.scale", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    with TreeMemory(process.pid) as memory:
        try:
            output, _ = process.communicate(timeout=timeout_s)
            status = "ok" if process.returncode == 0 else "error"
        except subprocess.TimeoutExpired:
            status = "timeout"
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
    result: dict[str, Any] = {}
    for line in output.splitlines():
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line.removeprefix(RESULT_PREFIX))
    if status == "ok" and not result:
        status = "error"
    report: dict[str, Any] = {
        "status": status,
        "process_seconds": time.perf_counter() - started,
        "peak_rss_gb": memory.peak_gb,
        "processes": memory.processes,
        **result,
    }
    if status == "error":
        report["output_tail"] = output[-2000:]
    _reap_session(process.pid)
    return report


def _reap_session(session: int) -> None:
    """Kill what the child left in its session (Ray's daemons outlive a crashed driver)."""
    try:
        os.killpg(session, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ---- the benchmark -----------------------------------------------------------------------


def _ray_available() -> str | None:
    """Why Flower's Ray simulation cannot run here, or None."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        return "ray is not installed (pip install 'flwr[simulation]==1.42.0')"
    return None


def run(
    out_dir: Path,
    *,
    num_clients: int = NUM_CLIENTS,
    workers: int | None = None,
    include_flower: bool = True,
    flower_sizes: Sequence[int] = FLOWER_SIZES,
    flower_timeout_s: float = FLOWER_TIMEOUT_S,
    virtual_timeout_s: float = 600.0,
) -> dict[str, Any]:
    """Run the benchmark; ``include_flower=False`` skips Flower's Ray simulation."""
    cpus = os.cpu_count() or 1
    load_before = os.getloadavg()
    child_args = ["virtual", "--clients", str(num_clients)]
    if workers is not None:
        child_args += ["--workers", str(workers)]
    virtual = _run_child(child_args, virtual_timeout_s)
    flower: dict[str, Any] = {"included": include_flower, "unavailable": None, "per_n": []}
    if include_flower:
        flower["unavailable"] = _ray_available()
        if flower["unavailable"] is None:
            for size in flower_sizes:
                outcome = _run_child(
                    ["flower", "--clients", str(size), "--cpus", str(cpus)], flower_timeout_s
                )
                flower["per_n"].append({"clients": size, **outcome})
                if outcome["status"] != "ok":
                    break  # larger federations would not finish either
    seconds = virtual.get("seconds")
    report = {
        "task": TASK,
        "num_clients": num_clients,
        "workers": workers or cpus,
        "cpu_count": cpus,
        "run_config": RUN_CONFIG,
        "status": virtual["status"],
        "seconds_10k": seconds,
        "cpu_seconds": virtual.get("cpu_seconds"),
        "cpu_bound_seconds": (
            None if virtual.get("cpu_seconds") is None else virtual["cpu_seconds"] / cpus
        ),
        "process_seconds": virtual["process_seconds"],
        "peak_rss_gb": virtual["peak_rss_gb"],
        "processes": virtual["processes"],
        "accuracy_before": virtual.get("accuracy_before"),
        "accuracy_after": virtual.get("accuracy_after"),
        "calls": virtual.get("calls"),
        "failures": virtual.get("failures"),
        "load_average_before": load_before[0],
        "load_average_after": os.getloadavg()[0],
        "goals": GOALS,
        "goals_met": {
            "seconds_10k": seconds is not None and seconds <= GOALS["seconds_10k"],
            "peak_rss_gb": virtual["peak_rss_gb"] <= GOALS["peak_rss_gb"],
        },
        "flower": flower,
    }
    if "output_tail" in virtual:
        report["output_tail"] = virtual["output_tail"]
    return report


def table(report: Mapping[str, Any]) -> str:
    """The report as a small text table."""

    def number(value: Any, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    lines = [
        f"{'runtime':<28} {'clients':>8} {'seconds':>9} {'peak GB':>8}  outcome",
        f"{'Consortium virtual Grid':<28} {report['num_clients']:>8} "
        f"{number(report['seconds_10k'], '.1f'):>9} {report['peak_rss_gb']:>8.2f}  "
        f"{report['status']}, accuracy {number(report['accuracy_before'], '.3f')} -> "
        f"{number(report['accuracy_after'], '.3f')}",
    ]
    flower = report["flower"]
    if flower.get("unavailable"):
        lines.append(f"{'Flower (Ray)':<28} unavailable: {flower['unavailable']}")
    for row in flower.get("per_n", []):
        lines.append(
            f"{'Flower simulation (Ray)':<28} {row['clients']:>8} "
            f"{number(row.get('seconds'), '.1f'):>9} {row['peak_rss_gb']:>8.2f}  {row['status']}"
        )
    met = ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in report["goals_met"].items())
    lines.append(
        f"CPU {number(report.get('cpu_seconds'), '.1f')} s = "
        f"{number(report.get('cpu_bound_seconds'), '.1f')} s on {report['cpu_count']} busy cores"
    )
    lines.append(
        f"goals: {met}; load average {report['load_average_before']:.1f} -> "
        f"{report['load_average_after']:.1f} on {report['cpu_count']} CPUs"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Child entry point: ``virtual --clients N`` or ``flower --clients N --cpus C``."""
    parser = argparse.ArgumentParser(prog="python -m consortium_bench.scale")
    parser.add_argument("mode", choices=["virtual", "flower"])
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    if args.mode == "virtual":
        result = virtual_child(args.clients, args.workers)
    else:
        result = flower_child(args.clients, args.cpus)
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
