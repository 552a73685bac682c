"""``python -m consortium_bench``: run benchmarks by name (``make bench BENCH=<name>|all``).

Each benchmark is registered in :data:`BENCHMARKS` by name with the import path of a function
``run(out_dir: Path) -> dict`` (imported only when that benchmark runs) and of a function
``table(report) -> str``. The CLI writes each report to ``<out>/<name>.json`` and prints its
table.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["BENCHMARKS", "Benchmark", "UnknownBenchmarkError", "main", "select"]


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark: ``run`` and ``table`` are ``module:function`` references."""

    name: str
    description: str
    run: str
    table: str

    def load(self) -> tuple[Callable[[Path], dict[str, Any]], Callable[[Mapping[str, Any]], str]]:
        """Import and return ``(run, table)``."""
        return _resolve(self.run), _resolve(self.table)


def _resolve(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            name="runtime",
            description="round time vs Flower's SuperLink/SuperNode (N=2, 5) and the rate of a "
            "46.8 MB model's round trip, through the real coordinator and clients",
            run="consortium_bench.runtime:run",
            table="consortium_bench.runtime:table",
        ),
        Benchmark(
            name="aggregation",
            description="FedAvg, median, trimmed mean, Krum and Bulyan kernels on 20 x 11.7M "
            "float32 updates against a numpy loop, np.median and Flower's own aggregation",
            run="consortium_bench.aggregation:run",
            table="consortium_bench.aggregation:table",
        ),
        Benchmark(
            name="privacy",
            description="DP-SGD's time against plain training per grad-sample mode, and the "
            "held-out accuracy of task digits-private at epsilon 1-8 (3 seeds), with and "
            "without public pretraining",
            run="consortium_bench.privacy:run",
            table="consortium_bench.privacy:table",
        ),
        Benchmark(
            name="ingest",
            description="job events per second from JetStream into Postgres through the real "
            "consortium-metrics service (200,000 events, 1% duplicates), none lost or doubled",
            run="consortium_bench.ingest:run",
            table="consortium_bench.ingest:table",
        ),
        Benchmark(
            name="api",
            description="the gateway's job and round reads at 500 req/s, open loop over TLS, "
            "with 100 finished jobs and 1,000 participants in the read model and the registry",
            run="consortium_bench.api:run",
            table="consortium_bench.api:table",
        ),
        Benchmark(
            name="shapley",
            description="GTG-Shapley, truncated Monte Carlo and leave-one-out against exact "
            "Shapley values on constructed federations of 5-8 participants (10 rounds): rank "
            "correlation, share of exact's coalition models, time per round",
            run="consortium_bench.shapley:run",
            table="consortium_bench.shapley:table",
        ),
        Benchmark(
            name="scale",
            description="one round of devices-logreg over 10,000 virtual clients (time, "
            "memory, accuracy) against Flower's Ray simulation at 100 and 1,000 clients",
            run="consortium_bench.scale:run",
            table="consortium_bench.scale:table",
        ),
        Benchmark(
            name="async",
            description="synchronous FedAvg against FedAsync and FedBuff with 10 clients, 3 of "
            "them stragglers (+2 s per training): held-out accuracy against wall-clock time "
            "and the time to reach 80%, on the real runtime",
            run="consortium_bench.asynchronous:run",
            table="consortium_bench.asynchronous:table",
        ),
        Benchmark(
            name="compression",
            description="update compression (q8, top-k with error feedback) on digits-cnn, 5 "
            "non-IID participants, 20 rounds: bytes up/down per round, accuracy cost, "
            "encode/decode time",
            run="consortium_bench.compression:run",
            table="consortium_bench.compression:table",
        ),
        Benchmark(
            name="robust",
            description="model poisoning (2 of 10 participants sign-flip or scale their "
            "updates) against FedAvg, median, trimmed mean, Krum, Multi-Krum and Bulyan on "
            "non-IID digits: held-out accuracy against the clean FedAvg run",
            run="consortium_bench.robust:run",
            table="consortium_bench.robust:table",
        ),
        Benchmark(
            name="he",
            description="aggregation under homomorphic encryption (he-ckks, TenSEAL CKKS) "
            "against plaintext FedAvg and SecAgg+: time and bytes per round on digits-cnn (5 "
            "participants) and on a ResNet-18-sized update, and the accuracy it costs",
            run="consortium_bench.he:run",
            table="consortium_bench.he:table",
        ),
    )
}


class UnknownBenchmarkError(ValueError):
    """A benchmark name that is not registered; the message lists the known ones."""


def select(name: str, registry: Mapping[str, Benchmark] = BENCHMARKS) -> list[Benchmark]:
    """The benchmarks that ``--bench name`` means (``all``: every one, in registry order)."""
    if name == "all":
        return list(registry.values())
    if name not in registry:
        known = ", ".join(["all", *registry])
        raise UnknownBenchmarkError(f"unknown benchmark {name!r}; known: {known}")
    return [registry[name]]


def main(argv: list[str] | None = None, registry: Mapping[str, Benchmark] = BENCHMARKS) -> int:
    """Entry point of ``python -m consortium_bench``."""
    parser = argparse.ArgumentParser(
        prog="python -m consortium_bench",
        description="Run Consortium benchmarks; each writes <out>/<name>.json.",
        epilog="benchmarks: " + "; ".join(f"{b.name}: {b.description}" for b in registry.values()),
    )
    parser.add_argument("--bench", default="all", help="a benchmark name, or all (default)")
    parser.add_argument(
        "--out", type=Path, default=Path("var/bench"), help="output folder (default: var/bench)"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for bench in registry.values():
            print(f"{bench.name}: {bench.description}")
        return 0
    try:
        chosen = select(args.bench, registry)
    except UnknownBenchmarkError as err:
        parser.error(str(err))  # exits with status 2
    args.out.mkdir(parents=True, exist_ok=True)
    for bench in chosen:
        run, table = bench.load()
        t0 = time.monotonic()
        report = run(args.out)
        report.setdefault("wall_s", time.monotonic() - t0)
        path = args.out / f"{bench.name}.json"
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"== {bench.name} ==")
        print(table(report))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
