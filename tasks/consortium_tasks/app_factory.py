"""The built-in tasks' ServerApp and ClientApp, built from a task's model and data.

Every built-in task is the same Flower app pair around a different model and data set, so the
pair is written once here; each task's ``client_app.py`` and ``server_app.py`` hold one line.

The ClientApp answers plain ``train``/``evaluate`` messages (message API) and, when the job runs
secure aggregation, the four SecAgg+ stage messages (:mod:`consortium_core.secure_aggregation`).
The ServerApp runs the job's strategy with ``Strategy.start``, or FedAvg under SecAgg+, and
scores the global model on the held-out test set after every round.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from consortium_core.contracts.node_config import JOB_ID as JOB_ID_KEY
from consortium_core.privacy import PrivacyLedger, missing_spend
from consortium_core.privacy.central_dp import UNIT_WEIGHT_KEY, CentralDPSettings
from consortium_core.privacy.errors import UnaccountedTrainingRefused
from consortium_core.rounds import StopTraining
from consortium_core.secure_aggregation import SecureAggregationSettings
from consortium_core.secure_aggregation.client import is_secure_aggregation_message, secure_train
from consortium_core.secure_aggregation.server import run_secure_rounds
from consortium_core.strategies import build_strategy
from flwr.app import (
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MessageType,
    MetricRecord,
    RecordDict,
)
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import adaptiveclipping_mod, fixedclipping_mod
from flwr.common import NDArrays, Scalar
from flwr.serverapp import Grid, ServerApp
from torch import nn

from .data import load_test_set
from .early_stopping import EarlyStopping
from .local_training import train_locally
from .membership import balanced_sample, loss_threshold_audit
from .models import build_seeded
from .registry import TaskSpec
from .server_settings import ServerSettings, held_out_evaluate_fn, participant_config
from .training import evaluate_model

__all__ = ["MEMBERSHIP_AUDIT_ACTION", "make_client_app", "make_server_app"]

MEMBERSHIP_AUDIT_ACTION = "membership"
CLIENT_CLIPPING_MODS = {"client-fixed": fixedclipping_mod, "client-adaptive": adaptiveclipping_mod}
MEMBERSHIP_AUDIT_TIMEOUT_S = 120.0

ModelFactory = Callable[[], nn.Module]
DataLoaderFn = Callable[[Mapping[str, Any]], tuple[torch.Tensor, torch.Tensor]]


def make_client_app(
    task: TaskSpec, build_model: ModelFactory, load_data: DataLoaderFn
) -> ClientApp:
    """The task's ClientApp: local training and evaluation on this participant's data."""
    app = ClientApp()

    def fit(
        state: Mapping[str, torch.Tensor], config: Mapping[str, Any], context: Context
    ) -> tuple[nn.Module, dict[str, float], int]:
        model = build_model()
        model.load_state_dict(state)
        x, y = load_data(context.node_config)
        metrics = train_locally(
            model,
            x,
            y,
            defaults=task.defaults,
            node_config=context.node_config,
            run_config=context.run_config,
            config=config,
        )
        metrics.update(_charge_ledger(metrics, config, context))
        return model, metrics, len(x)

    def fit_nameless(
        arrays: NDArrays, config: dict[str, Scalar], context: Context
    ) -> tuple[NDArrays, int, dict[str, Scalar]]:
        names = list(build_model().state_dict())
        state = OrderedDict(
            (name, torch.from_numpy(np.array(a, copy=True)))
            for name, a in zip(names, arrays, strict=True)
        )
        model, metrics, count = fit(state, config, context)
        trained = [t.detach().cpu().numpy() for t in model.state_dict().values()]
        return trained, count, {**metrics, "num-examples": count}

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        """Train the received global model; reply with the new weights (or, under SecAgg+,
        answer the protocol's stage, masking the update)."""
        if is_secure_aggregation_message(msg):
            return secure_train(msg, context, fit_nameless)
        clipping_mod = CLIENT_CLIPPING_MODS.get(str(context.run_config.get("central-dp", "")))
        if clipping_mod is not None:  # central DP that participants clip for
            return clipping_mod(msg, context, plain_train)
        return plain_train(msg, context)

    def plain_train(msg: Message, context: Context) -> Message:
        state = msg.content["arrays"].to_torch_state_dict()
        model, metrics, count = fit(state, msg.content["config"], context)
        content = RecordDict(
            {
                "arrays": ArrayRecord(model.state_dict()),
                "metrics": MetricRecord({**metrics, "num-examples": count, UNIT_WEIGHT_KEY: 1}),
            }
        )
        return Message(content=content, reply_to=msg)

    @app.query(MEMBERSHIP_AUDIT_ACTION)
    def membership(msg: Message, context: Context) -> Message:
        """Attack the final model with this participant's own data as members and the task's
        public held-out set as non-members; only the attack's numbers leave."""
        model = build_model()
        model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
        members, non_members = balanced_sample(
            load_data(context.node_config), load_test_set(task.name), seed=0
        )
        audit = loss_threshold_audit(model, members, non_members)
        return Message(RecordDict({"metrics": MetricRecord(audit.metrics())}), reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        """Score the received global model on this participant's data."""
        model = build_model()
        model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
        x, y = load_data(context.node_config)
        result = evaluate_model(model, x, y)
        metrics = MetricRecord(
            {
                "eval_loss": result.loss,
                "eval_acc": result.accuracy,
                "num-examples": len(x),
                UNIT_WEIGHT_KEY: 1,
            }
        )
        return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)

    return app


def _charge_ledger(
    metrics: Mapping[str, float], config: Mapping[str, Any], context: Context
) -> dict[str, float]:
    """Charge this round's DP-SGD to the participant's own ledger before the update leaves.

    The charge comes after training and before the reply: what costs privacy is releasing the
    update, so a refused round (:class:`PrivacyBudgetExceeded`) releases nothing and spends
    nothing. A participant with a limit refuses any round trained without DP.
    """
    ledger = PrivacyLedger.from_node_config(context.node_config)
    if ledger is None:
        return {}
    job_id = str(context.node_config.get(JOB_ID_KEY, f"run-{context.run_id}"))
    server_round = int(config.get("server-round", 0))
    if missing_spend(metrics) is not None:
        if ledger.epsilon_limit is not None:
            raise UnaccountedTrainingRefused(
                job_id=job_id, server_round=server_round, limit=ledger.epsilon_limit
            )
        return {}
    charge = ledger.charge(
        job_id=job_id,
        run_id=context.run_id,
        server_round=server_round,
        noise_multiplier=float(metrics["dp_noise_multiplier"]),
        sample_rate=float(metrics["dp_sample_rate"]),
        steps=int(metrics["dp_steps"]),
        delta=float(metrics.get("dp_delta", ledger.delta)),
    )
    if charge.spent is None or charge.remaining is None:
        return {}
    return {"ledger_epsilon_spent": charge.spent, "ledger_epsilon_remaining": charge.remaining}


def _audit_membership(grid: Grid, arrays: ArrayRecord, run_config: Mapping[str, Any]) -> None:
    """Ask every participant to attack the final model (``membership-audit``, on by default);
    the runtime keeps their answers for the job's privacy report."""
    if str(run_config.get("membership-audit", True)).lower() in ("false", "0", "no"):
        return
    messages = [
        Message(
            content=RecordDict({"arrays": arrays}),
            dst_node_id=node_id,
            message_type=f"{MessageType.QUERY}.{MEMBERSHIP_AUDIT_ACTION}",
        )
        for node_id in grid.get_node_ids()
    ]
    if messages:
        grid.send_and_receive(messages, timeout=MEMBERSHIP_AUDIT_TIMEOUT_S)


def make_server_app(task: TaskSpec, build_model: ModelFactory) -> ServerApp:
    """The task's ServerApp: the job's strategy, the held-out score after every round."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        """Run federated training, scoring the global model on the held-out test set."""
        settings = ServerSettings.from_run_config(context.run_config)
        secure = SecureAggregationSettings.from_run_config(context.run_config)
        initial = ArrayRecord(build_seeded(build_model, settings.seed).state_dict())
        train_config = participant_config(task.defaults, context.run_config)
        held_out = held_out_evaluate_fn(
            grid=grid, build_model=build_model, test_set=load_test_set(task.name)
        )
        stopper = EarlyStopping.from_run_config(context.run_config)
        latest = [initial]

        def evaluate_fn(server_round: int, arrays: ArrayRecord) -> MetricRecord:
            metrics = held_out(server_round, arrays)
            latest[0] = arrays
            if stopper is not None:
                stopper.check(server_round, float(metrics["loss"]))
            return metrics

        try:
            _train(grid, context, settings, secure, initial, train_config, evaluate_fn)
        except StopTraining:
            _audit_membership(grid, latest[0], context.run_config)
            raise
        _audit_membership(grid, latest[0], context.run_config)

    def _train(
        grid: Grid,
        context: Context,
        settings: ServerSettings,
        secure: SecureAggregationSettings | None,
        initial: ArrayRecord,
        train_config: ConfigRecord,
        evaluate_fn: Callable[[int, ArrayRecord], MetricRecord],
    ) -> None:
        if secure is not None:
            run_secure_rounds(
                grid,
                context,
                settings=secure,
                initial_arrays=initial,
                num_rounds=settings.num_rounds,
                min_participants=settings.min_participants,
                fraction_train=settings.fraction_train,
                train_config=dict(train_config),
                evaluate_fn=evaluate_fn,
            )
            return
        central = CentralDPSettings.from_run_config(context.run_config)
        options = dict(settings.strategy_options)
        if central is not None:
            options["weighted_by_key"] = UNIT_WEIGHT_KEY  # see privacy.central_dp
        strategy = build_strategy(
            settings.strategy,
            min_participants=settings.min_participants,
            fraction_train=settings.fraction_train,
            fraction_evaluate=settings.fraction_evaluate,
            options=options,
        )
        if central is not None:
            strategy = central.wrap(strategy, num_sampled_clients=settings.min_participants)
        strategy.start(
            grid=grid,
            initial_arrays=initial,
            num_rounds=settings.num_rounds,
            train_config=train_config,
            evaluate_config=participant_config(task.defaults, context.run_config),
            evaluate_fn=evaluate_fn,
        )

    return app
