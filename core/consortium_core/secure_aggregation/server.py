"""The server side of SecAgg+: Flower's workflow, failing loudly, in a round loop for a ServerApp.

Flower 1.42 ships SecAgg+ for its legacy workflow only (``DefaultWorkflow`` with a legacy
``Strategy`` in a ``LegacyContext``). :func:`run_secure_rounds` builds that from the same inputs
a message-API ``Strategy.start`` takes (initial ``ArrayRecord``, rounds, train config, an
``evaluate_fn``), so a ServerApp switches with one ``if``. The global model keeps its names: the
legacy path carries nameless arrays in order, and the names are put back for ``evaluate_fn``.

Flower's ``SecAggPlusWorkflow`` logs and returns when the protocol halts (too few participants
left, too few shares to unmask), and ``DefaultWorkflow`` then goes on with the unchanged model,
so a run can end as if it succeeded. :class:`StrictSecAggPlusWorkflow` raises
:class:`SecureAggregationHaltedError` with the reason instead.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, cast

from flwr.app import Array, ArrayRecord, Context, MetricRecord
from flwr.common import NDArrays, Scalar, ndarrays_to_parameters
from flwr.server import ServerConfig
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.strategy import FedAvg, Strategy
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.server.workflow.secure_aggregation.secaggplus_workflow import WorkflowState
from flwr.serverapp import Grid

from .errors import SecureAggregationHaltedError
from .settings import MODULUS_RANGE, SecureAggregationSettings

__all__ = ["StrictSecAggPlusWorkflow", "legacy_fedavg", "run_secure_rounds"]

log = logging.getLogger(__name__)

EvaluateFn = Callable[[int, ArrayRecord], MetricRecord | None]
StrategyWrapper = Callable[[Strategy], Strategy]


class StrictSecAggPlusWorkflow(SecAggPlusWorkflow):
    """``SecAggPlusWorkflow`` that raises :class:`SecureAggregationHaltedError` when it halts."""

    def __init__(self, settings: SecureAggregationSettings) -> None:
        super().__init__(
            num_shares=settings.num_shares,
            reconstruction_threshold=settings.reconstruction_threshold,
            max_weight=settings.max_weight,
            clipping_range=settings.clipping_range,
            quantization_range=settings.quantization_range,
            modulus_range=MODULUS_RANGE,
            timeout=settings.timeout_s,
        )

    def __call__(self, grid: Grid, context: Context) -> None:
        if not isinstance(context, LegacyContext):
            raise TypeError(f"expected a LegacyContext, got {type(context).__name__}")
        state = WorkflowState()
        stages = (
            ("setup", self.setup_stage),
            ("share keys", self.share_keys_stage),
            ("collect masked vectors", self.collect_masked_vectors_stage),
            ("unmask", self.unmask_stage),
        )
        for name, stage in stages:
            if not stage(grid, context, state):
                raise SecureAggregationHaltedError(_halt_reason(name, context, state))


def _halt_reason(stage: str, context: LegacyContext, state: WorkflowState) -> str:
    server_round = context.state.config_records[MAIN_CONFIGS_RECORD][WorkflowKey.CURRENT_ROUND]
    sampled, active = len(state.sampled_node_ids), len(state.active_node_ids)
    if sampled < 2:
        why = f"{sampled} participant(s) sampled; SecAgg+ needs at least 2"
    else:
        why = (
            f"{active} of {sampled} participants still active; every participant needs at least "
            f"{state.threshold} active neighbours out of its {state.num_shares} share holders "
            "to reconstruct the masks"
        )
    failures = sorted({_failure_text(f) for f in state.failures})
    if failures:
        why += "; failures: " + "; ".join(failures)
    return (
        f"secure aggregation halted in round {server_round} at the {stage} stage: {why}. "
        "No aggregate was produced; bring participants back or lower "
        "secagg-reconstruction-threshold."
    )


def _failure_text(failure: Exception) -> str:
    error = failure.args[0] if failure.args else failure
    return str(getattr(error, "reason", error))


def legacy_fedavg(
    *,
    initial_arrays: ArrayRecord,
    min_participants: int,
    fraction_train: float,
    train_config: Mapping[str, Scalar],
    evaluate_fn: EvaluateFn | None,
    round_offset: int = 0,
) -> FedAvg:
    """Flower's legacy ``FedAvg`` set up as Consortium's message-API path sets up its own:
    no federated evaluation (SecAgg+ covers training only), the held-out ``evaluate_fn`` every
    round (names restored), the train config plus ``server-round`` sent with every round.

    ``round_offset``: a job resumed after round ``k`` runs Flower's rounds 1, 2, ... as the
    job's ``k + 1``, ``k + 2``, ...; participants are sent the job's numbers (their privacy
    ledgers and training seeds go by them), ``evaluate_fn`` gets Flower's (as from
    ``Strategy.start``)."""
    keys = list(initial_arrays.keys())

    def named(ndarrays: NDArrays) -> ArrayRecord:
        return ArrayRecord(OrderedDict((k, Array(a)) for k, a in zip(keys, ndarrays, strict=True)))

    def evaluate(
        server_round: int, ndarrays: NDArrays, _: dict[str, Scalar]
    ) -> tuple[float, dict[str, Scalar]] | None:
        if evaluate_fn is None:
            return None
        metrics = evaluate_fn(server_round, named(ndarrays))
        values = cast(dict[str, Scalar], dict(metrics or {}))
        return float(cast(float, values.get("loss", 0.0))), values

    def fit_config(server_round: int) -> dict[str, Scalar]:
        return {**train_config, "server-round": server_round + round_offset}

    return FedAvg(
        fraction_fit=fraction_train,
        fraction_evaluate=0.0,
        min_fit_clients=min_participants,
        min_evaluate_clients=0,
        min_available_clients=min_participants,
        evaluate_fn=evaluate,
        on_fit_config_fn=fit_config,
        initial_parameters=ndarrays_to_parameters([a.numpy() for a in initial_arrays.values()]),
        fit_metrics_aggregation_fn=_no_metrics,
    )


def _no_metrics(_: list[tuple[int, dict[str, Any]]]) -> dict[str, Scalar]:
    # Per-participant metrics reach the coordinator through the Grid, never averaged.
    return {}


def run_secure_rounds(
    grid: Grid,
    context: Context,
    *,
    settings: SecureAggregationSettings,
    initial_arrays: ArrayRecord,
    num_rounds: int,
    min_participants: int,
    fraction_train: float,
    train_config: Mapping[str, Scalar],
    evaluate_fn: EvaluateFn | None,
    wrap_strategy: StrategyWrapper | None = None,
    round_offset: int = 0,
) -> None:
    """Run ``num_rounds`` of FedAvg whose training rounds aggregate with SecAgg+.

    ``wrap_strategy`` may wrap the legacy FedAvg (Flower's legacy DP wrappers, for central DP
    with client-side clipping under SecAgg+). ``round_offset`` resumes a job after that round
    (see :func:`legacy_fedavg`); each round's SecAgg+ key setup is its own, so a round that a
    restart interrupted runs again from its setup stage with fresh masks.
    """
    strategy: Strategy = legacy_fedavg(
        initial_arrays=initial_arrays,
        min_participants=min_participants,
        fraction_train=fraction_train,
        train_config=train_config,
        evaluate_fn=evaluate_fn,
        round_offset=round_offset,
    )
    if wrap_strategy is not None:
        strategy = wrap_strategy(strategy)
    legacy_context = LegacyContext(
        context, config=ServerConfig(num_rounds=num_rounds), strategy=strategy
    )
    workflow = DefaultWorkflow(fit_workflow=StrictSecAggPlusWorkflow(settings))
    workflow(grid, legacy_context)
