"""Benchmark ``privacy``: what client-side DP-SGD costs, and the accuracy it leaves per epsilon.

All on task ``digits-private`` (:mod:`consortium_tasks.digits_private.task`: its recipe is the
run config the accuracy runs use), through the real code paths:

* **Speed.** One participant's local training (:func:`consortium_tasks.local_training.
  train_locally`, as the ClientApp calls it: partition 0 of seed 42, the recipe's two full-batch
  steps) with DP-SGD at a target epsilon of 3 in each grad-sample mode, against the same call
  without DP. Calls are interleaved, after one warm-up call each (the job's noise and the round's
  epsilons are then cached, as from round 2 of a job); ``overhead_x_per_mode`` is the median DP
  time over the median plain time, ``dp_overhead_x`` that of the default mode
  (:data:`consortium_tasks.dp.DEFAULT_GRAD_SAMPLE_MODE`). ``dp_first_call_ms`` is a call with
  empty caches (deriving the job's noise, RDP and PRV accounting). The same is measured on
  ``digits-cnn`` at its defaults (mini-batches of 16) for reference.
* **Agreement of the grad-sample modes.** The clipped mean gradient without noise
  (:func:`consortium_tasks.dp.clipped_gradients`) of each mode against ``hooks`` on a fixed
  batch of 64, for both tasks' models; a mode is correct when the largest difference is below
  ``AGREEMENT_TOLERANCE`` of the largest gradient entry.
* **Privacy-utility.** Federated training of 5 simulated participants (Dirichlet(0.5) label
  skew of scikit-learn's digits) with the task's real ServerApp and ClientApp in one process
  (:func:`consortium_tasks.simulation.simulate`; noise seeded per seed, participant and round
  so that runs repeat), at each target epsilon (every participant's
  epsilon over all its steps, delta 1e-5, RDP unless ``--accountant prv``) and without DP, for
  each seed (partition,
  initial model and noise); the accuracy is the held-out test set's (360 images) after the last
  round. Each participant's spend is recomputed from what it reported (``dp_noise_multiplier``,
  ``dp_sample_rate``, ``dp_steps`` of every round, composed by RDP and PRV).
* **With public pretraining (another threat model).** The same, with 10 % of the train pool
  declared public (no participant holds it; participants share the rest), and the initial
  model pretrained on it without DP by the server; keys ``*_public_pretrained`` and
  ``public_pretraining``. The public data is not protected.

Command line (the same as ``python -m consortium_bench --bench privacy``, with knobs)::

    python -m consortium_bench.privacy --seeds 42,43,44 --epsilons 1,2,3,4,8 --repeats 21
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from consortium_core.privacy import composed_epsilon
from consortium_tasks import dp
from consortium_tasks.app_factory import make_server_app
from consortium_tasks.data import load_partition, load_public_set, load_test_set
from consortium_tasks.digits_cnn import task as digits_cnn
from consortium_tasks.digits_private import task as digits_private
from consortium_tasks.local_training import train_locally
from consortium_tasks.models import build_seeded
from consortium_tasks.registry import FULL_BATCH
from consortium_tasks.simulation import simulate
from consortium_tasks.training import MOMENTUM, evaluate_model, train_model
from flwr.common.logger import FLOWER_LOGGER
from torch import nn

__all__ = [
    "AGREEMENT_TOLERANCE",
    "GOALS",
    "composed_spend",
    "fastest_correct_mode",
    "max_participant_epsilon",
    "overheads",
    "run",
    "table",
]

NAME = "privacy"
TASK = digits_private.TASK
SEEDS = (42, 43, 44)
EPSILONS = (1.0, 2.0, 3.0, 4.0, 8.0)
PARTICIPANTS = 5
PARTITION = "dirichlet(0.5)"
TIMING_EPSILON = 3.0
AGREEMENT_TOLERANCE = 1e-4
PUBLIC_FRACTION = 0.1
PUBLIC_PRETRAINING = {"epochs": 100, "learning_rate": 0.5, "batch_size": FULL_BATCH, "seed": 0}
GOALS: dict[str, float] = {
    "dp_overhead_x": 2.0,
    "accuracy_at_eps8": 0.95,
    "accuracy_at_eps3": 0.92,
}
AT_MOST = frozenset({"dp_overhead_x"})

DEFINITIONS = {
    "overhead_x_per_mode": "median wall time of one participant's local training with DP-SGD "
    "(train_locally, target epsilon 3 over the job) / the same without DP, after a warm-up call",
    "dp_overhead_x": "overhead_x_per_mode of the default grad-sample mode",
    "dp_first_call_ms": "the default mode's call with empty caches: deriving the job's noise "
    "multiplier and the round's RDP and PRV epsilons included",
    "grad_sample_max_abs_diff": "largest |clipped mean gradient of the mode - that of hooks| on "
    "64 fixed examples without noise (max_grad_norm 1)",
    "accuracy_at_epsN": "mean over seeds of the held-out accuracy after the last round, every "
    "participant's epsilon over all its steps at most N (delta 1e-5, by recipe.accountant)",
    "max_epsilon_spent": "largest epsilon of any participant over all its rounds, recomputed "
    "from the dp_noise_multiplier, dp_sample_rate and dp_steps it reported",
    "public_pretrained": "10% of the train pool declared public (no participant holds it), the "
    "initial model trained on it without DP; a different threat model: that data is public",
}


# --------------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------------


def overheads(
    timings: Mapping[str, Sequence[float]], *, baseline: str = "plain"
) -> dict[str, float]:
    """Median time of each entry over the baseline's median.

    >>> overheads({"plain": [1.0, 2.0, 3.0], "ghost": [3.0, 4.0, 5.0]})
    {'ghost': 2.0}
    """
    base = statistics.median(timings[baseline])
    return {
        name: statistics.median(values) / base
        for name, values in timings.items()
        if name != baseline
    }


def fastest_correct_mode(
    overhead_x: Mapping[str, float], max_abs_diff: Mapping[str, float], *, scale: float
) -> str:
    """The mode with the smallest overhead among those within ``AGREEMENT_TOLERANCE * scale``
    of ``hooks`` (the reference; always correct).

    >>> fastest_correct_mode({"hooks": 2.0, "ghost": 1.2, "ew": 1.5},
    ...                      {"hooks": 0.0, "ghost": 1.0, "ew": 0.0}, scale=1.0)
    'ew'
    """
    correct = [
        mode
        for mode in overhead_x
        if mode == "hooks" or max_abs_diff.get(mode, float("inf")) <= AGREEMENT_TOLERANCE * scale
    ]
    return min(correct, key=lambda mode: overhead_x[mode])


def composed_spend(
    history: Iterable[tuple[float, float, int]], *, delta: float, accountant: str
) -> float:
    """Epsilon of one participant's rounds composed (cached: participants share histories).

    >>> one = composed_spend([(10.0, 1.0, 2)] * 3, delta=1e-5, accountant="rdp")
    >>> one == composed_spend([(10.0, 1.0, 6)], delta=1e-5, accountant="rdp")
    True
    """
    return _composed(tuple(sorted(history)), delta, accountant)


@lru_cache(maxsize=1024)
def _composed(
    history: tuple[tuple[float, float, int], ...], delta: float, accountant: str
) -> float:
    return composed_epsilon(accountant=accountant, history=list(history), delta=delta)


def max_participant_epsilon(
    reports: Iterable[tuple[int, Mapping[str, Any]]], *, accountant: str
) -> float:
    """The largest epsilon of any participant over all its rounds, from the ``dp_*`` inputs of
    its training replies (``(node_id, metrics)``); 0 when nobody reported a DP spend.

    >>> reports = [(1, {"dp_noise_multiplier": 10.0, "dp_sample_rate": 1.0, "dp_steps": 2,
    ...                 "dp_delta": 1e-5})] * 2
    >>> max_participant_epsilon(reports, accountant="rdp") == composed_spend(
    ...     [(10.0, 1.0, 4)], delta=1e-5, accountant="rdp")
    True
    """
    histories: dict[int, list[tuple[float, float, int]]] = defaultdict(list)
    deltas: dict[int, float] = {}
    for node_id, metrics in reports:
        if "dp_noise_multiplier" not in metrics:
            continue
        histories[node_id].append(
            (
                float(metrics["dp_noise_multiplier"]),
                float(metrics["dp_sample_rate"]),
                int(metrics["dp_steps"]),
            )
        )
        deltas[node_id] = float(metrics["dp_delta"])
    return max(
        (
            composed_spend(history, delta=deltas[node], accountant=accountant)
            for node, history in histories.items()
        ),
        default=0.0,
    )


def _goals_met(report: Mapping[str, Any]) -> dict[str, bool]:
    """Each goal whose number the report has (a reduced epsilon grid may lack one).

    >>> _goals_met({"dp_overhead_x": 1.5, "accuracy_at_eps3": 0.9})
    {'dp_overhead_x': True, 'accuracy_at_eps3': False}
    """
    return {
        key: bool(report[key] <= goal if key in AT_MOST else report[key] >= goal)
        for key, goal in GOALS.items()
        if key in report
    }


# --------------------------------------------------------------------------------------------
# Speed
# --------------------------------------------------------------------------------------------


def _run_config(**dp_options: Any) -> dict[str, Any]:
    return {**digits_private.PRIVATE_RUN_CONFIG, **dp_options}


def _time_local_training(
    *,
    build_model: Callable[[], nn.Module],
    defaults: Any,
    run_config: Mapping[str, Any],
    modes: Sequence[str],
    repeats: int,
    x: torch.Tensor,
    y: torch.Tensor,
) -> dict[str, list[float]]:
    """Wall seconds of train_locally per call: plain, then each mode; interleaved."""
    plain = {k: v for k, v in run_config.items() if not k.startswith("dp-")}
    configs = {"plain": plain} | {
        mode: {**run_config, "dp-target-epsilon": TIMING_EPSILON, "dp-grad-sample-mode": mode}
        for mode in modes
    }
    node = {"partition-id": 0, "seed": SEEDS[0]}
    timings: dict[str, list[float]] = {name: [] for name in configs}
    for repeat in range(repeats + 1):
        for name, config in configs.items():
            model = build_model()
            started = time.perf_counter()
            train_locally(
                model,
                x,
                y,
                defaults=defaults,
                node_config=node,
                run_config=config,
                config={"server-round": 1},
            )
            if repeat:  # the first pass warms up imports and caches
                timings[name].append(time.perf_counter() - started)
    return timings


def _first_call_ms(
    build_model: Callable[[], nn.Module],
    defaults: Any,
    run_config: Mapping[str, Any],
    x: torch.Tensor,
    y: torch.Tensor,
) -> float:
    """One DP call of the default mode with empty caches (the job's noise, both epsilons)."""
    dp.job_noise_multiplier.cache_clear()
    dp._cached_spends.cache_clear()
    started = time.perf_counter()
    train_locally(
        build_model(),
        x,
        y,
        defaults=defaults,
        node_config={"partition-id": 0, "seed": SEEDS[0]},
        run_config={**run_config, "dp-target-epsilon": TIMING_EPSILON},
        config={"server-round": 1},
    )
    return (time.perf_counter() - started) * 1e3


def _partition(task: str) -> tuple[torch.Tensor, torch.Tensor]:
    return load_partition(
        task, partition_id=0, num_partitions=PARTICIPANTS, partitioner_spec=PARTITION, seed=SEEDS[0]
    )


def _agreement(build_model: Callable[[], nn.Module], task: str) -> tuple[dict[str, float], float]:
    """Largest difference of each mode's clipped gradient from hooks', and the largest entry."""
    x, y = _partition(task)
    x, y = x[:64], y[:64]

    def perturbed() -> nn.Module:
        model = build_seeded(build_model, 0)
        generator = torch.Generator().manual_seed(1)
        with torch.no_grad():  # away from a zero-initialized classifier's special point
            for parameter in model.parameters():
                parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))
        return model

    grads = {
        mode: dp.clipped_gradients(perturbed(), x, y, max_grad_norm=1.0, grad_sample_mode=mode)
        for mode in dp.GRAD_SAMPLE_MODES
    }
    reference = grads["hooks"]
    scale = max(float(g.abs().max()) for g in reference.values())
    diffs = {
        mode: max(float((grad[k] - reference[k]).abs().max()) for k in reference)
        for mode, grad in grads.items()
    }
    return diffs, scale


def _speed(repeats: int, cnn_repeats: int) -> dict[str, Any]:
    x, y = _partition(TASK.name)
    timings = _time_local_training(
        build_model=digits_private.build_model,
        defaults=TASK.defaults,
        run_config=_run_config(),
        modes=dp.GRAD_SAMPLE_MODES,
        repeats=repeats,
        x=x,
        y=y,
    )
    overhead_x = overheads(timings)
    diffs, scale = _agreement(digits_private.build_model, TASK.name)
    cnn_x, cnn_y = _partition(digits_cnn.TASK.name)
    cnn_timings = _time_local_training(
        build_model=digits_cnn.build_model,
        defaults=digits_cnn.TASK.defaults,
        run_config={},
        modes=dp.GRAD_SAMPLE_MODES,
        repeats=cnn_repeats,
        x=cnn_x,
        y=cnn_y,
    )
    cnn_diffs, cnn_scale = _agreement(digits_cnn.build_model, digits_cnn.TASK.name)
    default = dp.DEFAULT_GRAD_SAMPLE_MODE
    return {
        "dp_overhead_x": overhead_x[default],
        "default_grad_sample_mode": default,
        "fastest_correct_mode": fastest_correct_mode(overhead_x, diffs, scale=scale),
        "overhead_x_per_mode": overhead_x,
        "timing_ms": {k: statistics.median(v) * 1e3 for k, v in timings.items()},
        "timing_examples": len(x),
        "dp_first_call_ms": _first_call_ms(
            digits_private.build_model, TASK.defaults, _run_config(), x, y
        ),
        "grad_sample_max_abs_diff": diffs,
        "grad_sample_max_abs_grad": scale,
        "digits_cnn": {
            "settings": "digits-cnn defaults: 2 local epochs of Poisson batches of 16 "
            f"({len(cnn_x)} examples), lr 0.1",
            "overhead_x_per_mode": overheads(cnn_timings),
            "timing_ms": {k: statistics.median(v) * 1e3 for k, v in cnn_timings.items()},
            "fastest_correct_mode": fastest_correct_mode(
                overheads(cnn_timings), cnn_diffs, scale=cnn_scale
            ),
            "grad_sample_max_abs_diff": cnn_diffs,
            "grad_sample_max_abs_grad": cnn_scale,
            "dp_first_call_ms": _first_call_ms(
                digits_cnn.build_model, digits_cnn.TASK.defaults, {}, cnn_x, cnn_y
            ),
        },
    }


# --------------------------------------------------------------------------------------------
# Privacy-utility
# --------------------------------------------------------------------------------------------


def _pretrained_server_app() -> tuple[Any, float]:
    """The task's ServerApp starting from a model pretrained on the public slice, and that
    model's held-out accuracy."""
    public_x, public_y = load_public_set(TASK.name, fraction=PUBLIC_FRACTION)
    model = digits_private.build_model()
    train_model(model, public_x, public_y, **PUBLIC_PRETRAINING)  # type: ignore[arg-type]
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def pretrained() -> nn.Module:
        fresh = digits_private.build_model()
        fresh.load_state_dict(state)
        return fresh

    accuracy = evaluate_model(model, *load_test_set(TASK.name)).accuracy
    return make_server_app(TASK, pretrained), accuracy


def _federated(
    epsilon: float | None,
    seed: int,
    *,
    accountant: str,
    server_app: Any = None,
    public: bool = False,
) -> tuple[float, list[tuple[int, dict[str, Any]]]]:
    options = {} if epsilon is None else {"dp-target-epsilon": epsilon, "dp-accountant": accountant}
    grid = simulate(
        TASK.name,
        num_partitions=PARTICIPANTS,
        partitioner_spec=PARTITION,
        seed=seed,
        run_config=_run_config(seed=seed, **{"membership-audit": False}, **options),
        node_options={
            "dp-seeded-noise": True,  # reproducible runs; never on real data
            **({"public-fraction": PUBLIC_FRACTION} if public else {}),
        },
        server_app=server_app,
    )
    last = max(grid.round_metrics)
    return float(grid.round_metrics[last]["accuracy"]), grid.participant_reports


def _curve(
    epsilons: Sequence[float],
    seeds: Sequence[int],
    *,
    accountant: str,
    server_app: Any = None,
    public: bool = False,
) -> dict[str, Any]:
    curve: dict[str, Any] = {}
    for epsilon in [*epsilons, None]:
        accuracies, reports = [], []
        for seed in seeds:
            accuracy, seed_reports = _federated(
                epsilon, seed, accountant=accountant, server_app=server_app, public=public
            )
            accuracies.append(accuracy)
            reports.append(seed_reports)
        point: dict[str, Any] = {
            "accuracy": statistics.fmean(accuracies),
            "accuracy_per_seed": accuracies,
        }
        if epsilon is not None:
            spends = [metrics for run in reports for _, metrics in run]
            point |= {
                "target_epsilon": epsilon,
                "noise_multiplier": spends[0]["dp_noise_multiplier"],
                "sample_rate": spends[0]["dp_sample_rate"],
                "steps_per_round": spends[0]["dp_steps"],
                "max_epsilon_spent_rdp": max(
                    max_participant_epsilon(run, accountant="rdp") for run in reports
                ),
                "max_epsilon_spent_prv": max(
                    max_participant_epsilon(run, accountant="prv") for run in reports
                ),
            }
        curve["no_dp" if epsilon is None else f"{epsilon:g}"] = point
    return curve


def _spent(curve: Mapping[str, Any], accountant: str) -> dict[str, Any]:
    """Per target: the largest epsilon any participant spent (RDP, PRV), and whether every
    participant stayed within the target by the job's accountant."""
    points = [point for point in curve.values() if "target_epsilon" in point]
    return {
        "by_target": {
            f"{p['target_epsilon']:g}": {
                "rdp": p["max_epsilon_spent_rdp"],
                "prv": p["max_epsilon_spent_prv"],
            }
            for p in points
        },
        "accountant": accountant,
        "within_target": all(
            p[f"max_epsilon_spent_{accountant}"] <= p["target_epsilon"] for p in points
        ),
    }


def _recipe(accountant: str) -> dict[str, Any]:
    config = digits_private.PRIVATE_RUN_CONFIG
    model = digits_private.build_model()
    return {
        "task": TASK.name,
        "model": "DigitsEdgeLinear: per-image standardization, 10 fixed 3x3 filters (identity, "
        "Sobel x4, Laplacian, second derivatives x4), |response|, 2x2 average pool at stride 1, "
        "per-example standardization of the 490 features, zero-initialized linear classifier",
        "trainable_parameters": sum(p.numel() for p in model.parameters()),
        "rounds": config["num-server-rounds"],
        "local_steps_per_round": config["local-epochs"],
        "batch": "full (every example every step, sample rate 1)",
        "learning_rate": config["learning-rate"],
        "momentum": MOMENTUM,
        "max_grad_norm": config["dp-max-grad-norm"],
        "strategy": "FedAvg (weighted by examples)",
        "accountant": accountant,
        "epsilon": "each participant's epsilon over all its steps in the job (rounds x local "
        "steps), noise derived once for the job",
    }


def run(
    out_dir: Path,
    *,
    seeds: Sequence[int] = SEEDS,
    epsilons: Sequence[float] = EPSILONS,
    repeats: int = 21,
    cnn_repeats: int = 5,
    accountant: str = "rdp",
) -> dict[str, Any]:
    """Measure everything described in the module docstring; return the report.

    ``accountant`` holds each participant's epsilon within the target (``dp-accountant``:
    ``rdp``, an upper bound, or the tighter ``prv``)."""
    t_begin = time.monotonic()
    torch.set_num_threads(1)
    FLOWER_LOGGER.setLevel(logging.WARNING)
    report: dict[str, Any] = {"benchmark": NAME, "task": TASK.name}
    report["setting"] = {
        "dataset": "scikit-learn digits: 1437 training images, 360 held out (never trained on)",
        "participants": PARTICIPANTS,
        "partition": PARTITION,
        "delta": digits_private.PRIVATE_RUN_CONFIG["dp-delta"],
    }
    report["recipe"] = _recipe(accountant)
    report["seeds"] = list(seeds)
    report["delta"] = digits_private.PRIVATE_RUN_CONFIG["dp-delta"]
    report |= _speed(repeats, cnn_repeats)
    curve = _curve(epsilons, seeds, accountant=accountant)
    report["curve"] = curve
    for epsilon in (8.0, 3.0):
        if f"{epsilon:g}" in curve:
            report[f"accuracy_at_eps{epsilon:g}"] = curve[f"{epsilon:g}"]["accuracy"]
    report["accuracy_without_dp"] = curve["no_dp"]["accuracy"]
    server_app, pretrained_accuracy = _pretrained_server_app()
    public_curve = _curve(
        epsilons, seeds, accountant=accountant, server_app=server_app, public=True
    )
    report["public_pretraining"] = {
        "threat_model": DEFINITIONS["public_pretrained"],
        "public_fraction": PUBLIC_FRACTION,
        "public_examples": len(load_public_set(TASK.name, fraction=PUBLIC_FRACTION)[1]),
        "pretraining": {**PUBLIC_PRETRAINING, "momentum": MOMENTUM, "dp": False},
        "pretrained_accuracy": pretrained_accuracy,
        "curve": public_curve,
    }
    for epsilon in (8.0, 3.0):
        if f"{epsilon:g}" in public_curve:
            report[f"accuracy_at_eps{epsilon:g}_public_pretrained"] = public_curve[f"{epsilon:g}"][
                "accuracy"
            ]
    report["max_epsilon_spent"] = {
        "without_public": _spent(curve, accountant),
        "public_pretrained": _spent(public_curve, accountant),
    }
    report["goals"] = dict(GOALS)
    report["goals_met"] = _goals_met(report)
    report["definitions"] = DEFINITIONS
    if hasattr(os, "getloadavg"):
        report["load_avg_1m_at_end"] = os.getloadavg()[0]
    report["wall_s"] = time.monotonic() - t_begin
    return report


def table(report: Mapping[str, Any]) -> str:
    """A short plain-text table of a report made by :func:`run`."""
    goals, met = report["goals"], report["goals_met"]
    lines = [f"DP-SGD speed on {report['task']} ({report['timing_examples']} examples):"]
    plain = report["timing_ms"]["plain"]
    lines.append(f"  {'plain':<10} {plain:7.1f} ms")
    for mode, ratio in report["overhead_x_per_mode"].items():
        marker = "  (default)" if mode == report["default_grad_sample_mode"] else ""
        lines.append(f"  {mode:<10} {report['timing_ms'][mode]:7.1f} ms  {ratio:4.2f}x{marker}")
    lines.append(
        f"  dp_overhead_x {report['dp_overhead_x']:.2f} (goal <= {goals['dp_overhead_x']:g}: "
        f"{'met' if met['dp_overhead_x'] else 'NOT met'}); fastest correct mode: "
        f"{report['fastest_correct_mode']}; first call (cold caches) "
        f"{report['dp_first_call_ms']:.0f} ms"
    )
    cnn = report["digits_cnn"]
    lines.append(
        "  digits-cnn, batches of 16: "
        + ", ".join(f"{m} {x:.2f}x" for m, x in cnn["overhead_x_per_mode"].items())
        + f"; first call {cnn['dp_first_call_ms']:.0f} ms"
    )
    lines += [
        "",
        f"{'epsilon':>8}  {'accuracy':>8}  {'with public pretraining':>23}  max eps spent",
    ]
    public = report["public_pretraining"]["curve"]
    accountant = report["recipe"]["accountant"]
    for key, point in report["curve"].items():
        spent = point.get(f"max_epsilon_spent_{accountant}")
        lines.append(
            f"{key:>8}  {point['accuracy']:8.3f}  {public[key]['accuracy']:23.3f}  "
            + ("-" if spent is None else f"{spent:.3f} ({accountant})")
        )
    for key in ("accuracy_at_eps8", "accuracy_at_eps3"):
        if key in report:
            lines.append(
                f"{key}: {report[key]:.3f} (goal >= {goals[key]:g}: "
                f"{'met' if met[key] else 'NOT met'}; mean of seeds {report['seeds']})"
            )
    recipe = report["recipe"]
    lines.append(
        f"recipe: {recipe['rounds']} rounds x {recipe['local_steps_per_round']} full-batch "
        f"steps, lr {recipe['learning_rate']}, clip {recipe['max_grad_norm']}, "
        f"{recipe['trainable_parameters']} trainable weights; public pretraining: "
        f"{report['public_pretraining']['public_examples']} public images "
        f"(pretrained alone {report['public_pretraining']['pretrained_accuracy']:.3f}); "
        f"wall time {report['wall_s']:.0f} s"
    )
    return "\n".join(lines)


def _float_list(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    """``python -m consortium_bench.privacy``: the privacy benchmark with its knobs exposed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("var/bench"))
    parser.add_argument("--seeds", type=_int_list, default=list(SEEDS), help="e.g. 42,43,44")
    parser.add_argument("--epsilons", type=_float_list, default=list(EPSILONS), help="e.g. 3,8")
    parser.add_argument("--repeats", type=int, default=21, help="timed calls per mode")
    parser.add_argument("--cnn-repeats", type=int, default=5, help="the same on digits-cnn")
    parser.add_argument("--accountant", default="rdp", choices=["rdp", "prv"])
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report = run(
        args.out,
        seeds=args.seeds,
        epsilons=args.epsilons,
        repeats=args.repeats,
        cnn_repeats=args.cnn_repeats,
        accountant=args.accountant,
    )
    path = args.out / f"{NAME}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(report))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
