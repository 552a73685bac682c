"""Benchmark ``async``: synchronous FedAvg against FedAsync and FedBuff with stragglers.

Task ``digits-cnn``, ``clients`` participants on non-IID partitions (Dirichlet 0.5, the task's
default), of which ``stragglers`` take ``straggler_delay_s`` longer for every training (node
config ``straggler-delay-s``, the ClientApp's test knob). Each strategy trains the same
initial model; after every round (one synchronous round, one FedAsync update, one FedBuff
buffer) the server scores the global model on the held-out test set. Reported per strategy:
accuracy against wall-clock time since training started, and the time to reach
``target_accuracy``.

Two modes, reported as ``mode``:

* ``runtime`` (the default): the real runtime — a private JetStream ``nats-server``, a fresh
  Postgres database, the ``consortium-coordinator`` service and one ``consortium-client run``
  process per participant (:class:`consortium_bench.runtime.ConsortiumStack`), each job created
  through the REST API. A round's time is the coordinator's own ``duration_s``; the curve's
  time is their running sum. Every participant process trains at the same time, so on a small
  machine they share its cores.
* ``simulator``: the in-process simulator (``consortium_tasks.simulation``) on a real clock.
  Each ClientApp call runs when its message is pushed, one after another in this process;
  a straggler's reply only becomes ready ``straggler_delay_s`` later
  (``InProcessGrid(reply_delays=...)``). Training time is therefore serial, stragglers'
  delays overlap. Used by the unit test (tiny sizes) and where no Postgres/NATS is at hand.

Command line: ``python -m consortium_bench --bench async``, or
``python -m consortium_bench.asynchronous --mode simulator``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["DEFAULTS", "curve_from_rounds", "main", "run", "table", "time_to_target"]

NAME = "async"
TASK = "digits-cnn"

DEFAULTS: dict[str, Any] = {
    "mode": "runtime",
    "clients": 10,
    "stragglers": 3,
    "straggler_delay_s": 2.0,
    "target_accuracy": 0.8,
    "local_epochs": 1,
    "seed": 42,
    # rounds per strategy: FedAvg's are synchronous rounds of every client, FedAsync's are
    # single updates, FedBuff's buffers of `buffer_size` updates
    "rounds": {"FedAvg": 12, "FedAsync": 150, "FedBuff": 50},
    "buffer_size": 3,
    "alpha": 0.6,
    "job_timeout_s": 150.0,
}

DEFINITIONS = {
    "curve": "[seconds since training started, held-out accuracy] after each round; round 0 "
    "is the initial model",
    "time_to_target_s": "first time on the curve with accuracy >= target_accuracy (null: "
    "never reached)",
    "speedup_vs_fedavg": "FedAvg's time_to_target_s / this strategy's",
    "updates": "training replies the server applied (FedAvg: clients x rounds); on the "
    "runtime, the sum over rounds of their distinct participants (one participant twice in a "
    "FedBuff buffer counts once)",
    "rounds_with_a_straggler": "runtime mode: rounds whose applied updates include a straggler's",
}


def time_to_target(curve: Sequence[Sequence[float]], target: float) -> float | None:
    """The first time on ``curve`` (``[t, accuracy]`` pairs) where accuracy reaches ``target``.

    >>> time_to_target([[0, 0.1], [2.5, 0.7], [4.0, 0.86]], 0.8)
    4.0
    >>> time_to_target([[0, 0.1]], 0.8) is None
    True
    """
    for t, accuracy in curve:
        if accuracy >= target:
            return float(t)
    return None


def curve_from_rounds(rounds: Sequence[Mapping[str, Any]]) -> list[list[float]]:
    """``[t, accuracy]`` from the coordinator's round records: ``t`` sums the rounds'
    ``duration_s`` after round 0 (the initial model's evaluation).

    >>> curve_from_rounds([{"number": 0, "duration_s": 9.0, "metrics": {"accuracy": 0.1}},
    ...                    {"number": 1, "duration_s": 1.5, "metrics": {"accuracy": 0.5}}])
    [[0.0, 0.1], [1.5, 0.5]]
    """
    curve, elapsed = [], 0.0
    for r in sorted(rounds, key=lambda r: r["number"]):
        if r["number"] > 0:
            elapsed += float(r["duration_s"])
        curve.append([round(elapsed, 3), float(r["metrics"]["accuracy"])])
    return curve


def _strategy_config(name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {"local-epochs": settings["local_epochs"], "seed": settings["seed"]}
    if name == "FedAsync":
        config |= {"async.alpha": settings["alpha"], "async.staleness": "polynomial"}
    if name == "FedBuff":
        config |= {"async.buffer-size": settings["buffer_size"]}
    return config


def _straggler_ids(settings: Mapping[str, Any]) -> list[int]:
    clients, stragglers = int(settings["clients"]), int(settings["stragglers"])
    return list(range(clients - stragglers, clients))


def _simulate(name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    from consortium_tasks.simulation import simulate

    delay = float(settings["straggler_delay_s"])
    started = time.monotonic()
    grid = simulate(
        TASK,
        num_partitions=int(settings["clients"]),
        seed=int(settings["seed"]),
        run_config={
            "strategy": name,
            "num-server-rounds": int(settings["rounds"][name]),
            "fraction-evaluate": 0.0,
            "membership-audit": False,
            **_strategy_config(name, settings),
        },
        partition_delays={p: delay for p in _straggler_ids(settings)},
    )
    t0 = grid.round_times[0]
    curve = [
        [round(grid.round_times[r] - t0, 3), float(grid.round_metrics[r]["accuracy"])]
        for r in sorted(grid.round_metrics)
    ]
    return {
        "curve": curve,
        "updates": len(grid.participant_reports),
        "wall_s": time.monotonic() - started,
    }


def _on_runtime(
    names: Sequence[str], settings: Mapping[str, Any], out_dir: Path
) -> dict[str, dict[str, Any]]:
    from consortium_bench.flower_runtime import _start
    from consortium_bench.runtime import BenchmarkError, ConsortiumStack, _http

    class Stack(ConsortiumStack):
        def start_task_clients(self, count: int, delays: Mapping[int, float]) -> list[str]:
            ids = []
            for i in range(count):
                participant = f"async-{i}"
                node_config = f"partition-id={i} num-partitions={count}"
                if delays.get(i):
                    node_config += f" straggler-delay-s={delays[i]}"
                argv = [
                    str(self.bin / "consortium-client"),
                    "run",
                    "--participant",
                    participant,
                    "--nats",
                    self.nats_url,
                    "--task",
                    TASK,
                    "--node-config",
                    node_config,
                ]
                self._clients[participant] = _start(
                    f"client-{participant}", argv, self.env, self.workdir, self.logs
                )
                ids.append(participant)
            return ids

    clients = int(settings["clients"])
    delays = {p: float(settings["straggler_delay_s"]) for p in _straggler_ids(settings)}
    results: dict[str, dict[str, Any]] = {}
    with Stack(out_dir / "async-work") as stack:
        participants = stack.start_task_clients(clients, delays)
        stack.wait_online(participants, TASK, timeout_s=240)
        for name in names:
            started = time.monotonic()
            body = {
                "name": f"bench async {name}",
                "task": TASK,
                "strategy": name,
                "rounds": int(settings["rounds"][name]),
                "min_participants": clients,
                "config": {
                    "fraction-evaluate": 0.0,
                    "membership-audit": False,
                    **_strategy_config(name, settings),
                },
            }
            code, job = _http("POST", f"{stack.api}/jobs", body)
            if code != 201:
                raise BenchmarkError(f"POST /jobs answered {code}: {job}")
            deadline = time.monotonic() + float(settings["job_timeout_s"])
            while job["status"] not in ("completed", "failed", "stopped"):
                if time.monotonic() > deadline:
                    raise BenchmarkError(f"{name} job {job['id']} did not finish in time")
                time.sleep(1.0)
                stack._check_alive()
                code, job = _http("GET", f"{stack.api}/jobs/{job['id']}")
            if job["status"] != "completed":
                raise BenchmarkError(f"{name} job ended {job['status']}: {job.get('reason')}")
            code, rounds = _http("GET", f"{stack.api}/jobs/{job['id']}/rounds")
            applied = sum(len(r["participants"]) for r in rounds if r["number"] > 0)
            slow = {participants[i] for i in delays}
            results[name] = {
                "curve": curve_from_rounds(rounds),
                "updates": applied,
                "rounds_with_a_straggler": sum(bool(slow & set(r["participants"])) for r in rounds),
                "wall_s": time.monotonic() - started,
            }
            _log(f"{name}: {results[name]['curve'][-1]}")
    return results


def _log(msg: str) -> None:
    print(f"[async {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(out_dir: Path, **overrides: Any) -> dict[str, Any]:
    """Run the benchmark (``overrides``: any of :data:`DEFAULTS`); return the report."""
    settings = {**DEFAULTS, **overrides}
    names = list(settings["rounds"])
    from flwr.common.logger import FLOWER_LOGGER

    FLOWER_LOGGER.setLevel(logging.WARNING)
    started = time.monotonic()
    if settings["mode"] == "runtime":
        results = _on_runtime(names, settings, Path(out_dir))
    elif settings["mode"] == "simulator":
        import torch

        torch.set_num_threads(1)
        results = {}
        for name in names:
            results[name] = _simulate(name, settings)
            _log(f"{name}: {results[name]['curve'][-1]}")
    else:
        raise ValueError(f"unknown mode {settings['mode']!r}; known: runtime, simulator")
    target = float(settings["target_accuracy"])
    for result in results.values():
        result["time_to_target_s"] = time_to_target(result["curve"], target)
        result["final_accuracy"] = result["curve"][-1][1]
        result["rounds"] = len(result["curve"]) - 1
    sync = results.get("FedAvg", {}).get("time_to_target_s")
    for result in results.values():
        mine = result["time_to_target_s"]
        result["speedup_vs_fedavg"] = (
            round(sync / mine, 2) if sync is not None and mine is not None and mine > 0 else None
        )
    return {
        "benchmark": NAME,
        "mode": settings["mode"],
        "task": TASK,
        "clients": settings["clients"],
        "stragglers": settings["stragglers"],
        "straggler_delay_s": settings["straggler_delay_s"],
        "target_accuracy": target,
        "settings": {k: v for k, v in settings.items() if k not in ("mode",)},
        "strategies": results,
        "definitions": DEFINITIONS,
        "wall_s": time.monotonic() - started,
    }


def _fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.2f}{unit}"


def table(report: Mapping[str, Any]) -> str:
    """The report as a text table, one line per strategy.

    >>> print(table({"mode": "simulator", "clients": 2, "stragglers": 1,
    ...              "straggler_delay_s": 1.0, "target_accuracy": 0.5, "strategies": {
    ...     "FedAvg": {"rounds": 2, "updates": 4, "final_accuracy": 0.6,
    ...                "time_to_target_s": 3.0, "speedup_vs_fedavg": 1.0,
    ...                "curve": [[0, 0.1], [3.0, 0.6]]}}}))  # doctest: +NORMALIZE_WHITESPACE
    mode simulator: 2 clients, 1 straggler(s) +1.0 s per training, target accuracy 0.5
    strategy  rounds  updates  final acc  time to target  speedup vs FedAvg  total time
    FedAvg         2        4       0.60           3.00s               1.00       3.00s
    """
    lines = [
        f"mode {report['mode']}: {report['clients']} clients, {report['stragglers']} "
        f"straggler(s) +{report['straggler_delay_s']} s per training, target accuracy "
        f"{report['target_accuracy']}",
        f"{'strategy':<8}  {'rounds':>6}  {'updates':>7}  {'final acc':>9}  "
        f"{'time to target':>14}  {'speedup vs FedAvg':>17}  {'total time':>10}",
    ]
    for name, r in report["strategies"].items():
        lines.append(
            f"{name:<8}  {r['rounds']:>6}  {r['updates']:>7}  {r['final_accuracy']:>9.2f}  "
            f"{_fmt(r['time_to_target_s'], 's'):>14}  {_fmt(r['speedup_vs_fedavg']):>17}  "
            f"{_fmt(r['curve'][-1][0], 's'):>10}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m consortium_bench.asynchronous``: run it, write ``<out>/async.json``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mode", choices=["runtime", "simulator"], default=DEFAULTS["mode"])
    parser.add_argument("--out", type=Path, default=Path("var/bench"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report = run(args.out, mode=args.mode)
    (args.out / f"{NAME}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
