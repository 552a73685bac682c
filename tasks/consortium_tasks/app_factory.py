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
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from consortium_core.asynchronous import check_async_job
from consortium_core.compression import CompressionSettings
from consortium_core.contracts.node_config import JOB_ID as JOB_ID_KEY
from consortium_core.fair_sampling import FairSampling, parse_min_participation
from consortium_core.homomorphic import HomomorphicSettings
from consortium_core.privacy import PrivacyLedger, missing_spend
from consortium_core.privacy.central_dp import UNIT_WEIGHT_KEY, CentralDPSettings
from consortium_core.privacy.errors import UnaccountedTrainingRefused
from consortium_core.resume import RoundOffset, resume_point
from consortium_core.rounds import StopTraining, notify_round_end
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

from .asynchronous import run_async_rounds, straggle
from .client_settings import hyperparams
from .compression_mod import compression_mod
from .compression_strategy import CompressionStrategy
from .data import load_test_set
from .early_stopping import EarlyStopping
from .errors import TaskError
from .homomorphic.participant import answer_key_setup, decrypt_state, train_encrypted
from .homomorphic.protocol import (
    CHECKPOINT_PREFIX,
    EVALUATE_ACTION,
    KEYS_ACTION,
    MODEL_RECORD,
    EncryptedModel,
    carries_encrypted_model,
)
from .homomorphic.server import JobKeys, run_encrypted_rounds
from .local_training import train_locally
from .membership import balanced_sample, loss_threshold_audit
from .models import build_seeded
from .personalization import (
    PERSONALIZE_ACTION,
    QUALITY_WEIGHT_KEY,
    PersonalizationSettings,
    participant_seed,
    personalize,
    quality_weight,
    split_for_job,
)
from .registry import TaskSpec
from .server_settings import ServerSettings, held_out_evaluate_fn, participant_config
from .training import evaluate_model

__all__ = ["MEMBERSHIP_AUDIT_ACTION", "make_client_app", "make_server_app"]

MEMBERSHIP_AUDIT_ACTION = "membership"
CLIENT_CLIPPING_MODS = {"client-fixed": fixedclipping_mod, "client-adaptive": adaptiveclipping_mod}
FINAL_QUERY_TIMEOUT_S = 120.0

ModelFactory = Callable[[], nn.Module]
Tensors = tuple[torch.Tensor, torch.Tensor]
DataLoaderFn = Callable[[Mapping[str, Any]], Tensors]


def make_client_app(
    task: TaskSpec, build_model: ModelFactory, load_data: DataLoaderFn
) -> ClientApp:
    """The task's ClientApp: local training and evaluation on this participant's data."""
    app = ClientApp()

    def local_data(context: Context) -> tuple[Tensors, Tensors | None]:
        """This participant's training data, and the local slice it keeps out (or None)."""
        x, y = load_data(context.node_config)
        return split_for_job(x, y, run_config=context.run_config, node_config=context.node_config)

    def fit(
        state: Mapping[str, torch.Tensor], config: Mapping[str, Any], context: Context
    ) -> tuple[nn.Module, dict[str, float], int]:
        model = build_model()
        model.load_state_dict(state)
        (x, y), held_out = local_data(context)
        straggle(context.node_config)  # test knob: straggler-delay-s
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
        if held_out is not None:
            metrics[QUALITY_WEIGHT_KEY] = quality_weight(model, held_out, num_examples=len(x))
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

    @app.train(mods=[compression_mod])  # a no-op unless the job sets compression.*
    def train(msg: Message, context: Context) -> Message:
        """Train the received global model; reply with the new weights (under SecAgg+, answer
        the protocol's stage, masking the update; under he-ckks, encrypted)."""
        if carries_encrypted_model(msg):
            return train_encrypted(msg, context, fit, build_model().state_dict())
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

    def received_state(msg: Message, context: Context) -> Mapping[str, torch.Tensor]:
        """The model a message carries: in the clear, or encrypted under a he-ckks job's key."""
        if carries_encrypted_model(msg):
            return decrypt_state(msg, context, build_model().state_dict())
        return msg.content["arrays"].to_torch_state_dict()

    @app.query(KEYS_ACTION)
    def key_setup(msg: Message, context: Context) -> Message:
        """A he-ckks job's key setup: show the certificate, deal or install the job's key."""
        return answer_key_setup(msg, context)

    @app.query(EVALUATE_ACTION)
    def evaluate_encrypted(msg: Message, context: Context) -> Message:
        """Decrypt a he-ckks job's global model and score it on the task's public held-out
        test set (the coordinator cannot: it holds the model encrypted)."""
        model = build_model()
        model.load_state_dict(received_state(msg, context))
        result = evaluate_model(model, *load_test_set(task.name))
        metrics = MetricRecord({"accuracy": result.accuracy, "loss": result.loss})
        return Message(RecordDict({"metrics": metrics}), reply_to=msg)

    @app.query(MEMBERSHIP_AUDIT_ACTION)
    def membership(msg: Message, context: Context) -> Message:
        """Attack the final model with this participant's own data as members and the task's
        public held-out set as non-members; only the attack's numbers leave."""
        model = build_model()
        model.load_state_dict(received_state(msg, context))
        members, non_members = balanced_sample(
            local_data(context)[0], load_test_set(task.name), seed=0
        )
        audit = loss_threshold_audit(model, members, non_members)
        return Message(RecordDict({"metrics": MetricRecord(audit.metrics())}), reply_to=msg)

    @app.evaluate(mods=[compression_mod])
    def evaluate(msg: Message, context: Context) -> Message:
        """Score the received global model on this participant's data."""
        model = build_model()
        model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
        training, held_out = local_data(context)
        x, y = held_out or training  # the local slice it never trained on, when it keeps one
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

    @app.query(PERSONALIZE_ACTION)
    def personalize_model(msg: Message, context: Context) -> Message:
        """Fine-tune the final model on this participant's data; only the accuracies of the
        global and the personalized model on its local slice leave."""
        model = build_model()
        model.load_state_dict(received_state(msg, context))
        training, held_out = local_data(context)
        settings = PersonalizationSettings.from_run_config(context.run_config)
        if held_out is None or settings.epochs == 0:
            raise TaskError("this job does not ask for personalization (personalize-epochs)")
        hyper = hyperparams(task.defaults, context.run_config, {})
        metrics = personalize(
            model,
            training,
            held_out,
            epochs=settings.epochs,
            learning_rate=hyper.learning_rate,
            batch_size=hyper.batch_size,
            seed=participant_seed(context.node_config),
        )
        return Message(RecordDict({"metrics": MetricRecord(metrics)}), reply_to=msg)

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


def _after_training(
    grid: Grid, arrays: ArrayRecord, run_config: Mapping[str, Any], keys: JobKeys | None = None
) -> None:
    """Ask every participant about the final model: to attack it (``membership-audit``, on by
    default) and to personalize it (``personalize-epochs``); the runtime keeps their answers
    for the job's privacy and personalization reports. In a he-ckks job (``keys``), every
    participant that holds the job's key: the others could not decrypt the model."""
    nodes = sorted(set(grid.get_node_ids()) & keys.holders) if keys is not None else None
    if str(run_config.get("membership-audit", True)).lower() not in ("false", "0", "no"):
        _ask_everyone(grid, arrays, MEMBERSHIP_AUDIT_ACTION, nodes)
    if PersonalizationSettings.from_run_config(run_config).epochs > 0:
        _ask_everyone(grid, arrays, PERSONALIZE_ACTION, nodes)


def _ask_everyone(
    grid: Grid, arrays: ArrayRecord, action: str, nodes: list[int] | None = None
) -> None:
    encrypted = any(name.startswith(CHECKPOINT_PREFIX) for name in arrays)
    content = (
        RecordDict({MODEL_RECORD: EncryptedModel.from_arrays(arrays).to_record()})
        if encrypted  # a he-ckks job's model: only participants can decrypt it
        else RecordDict({"arrays": arrays})
    )
    messages = [
        Message(
            content=content,
            dst_node_id=node_id,
            message_type=f"{MessageType.QUERY}.{action}",
        )
        for node_id in (grid.get_node_ids() if nodes is None else nodes)
    ]
    if messages:
        grid.send_and_receive(messages, timeout=FINAL_QUERY_TIMEOUT_S)


def make_server_app(task: TaskSpec, build_model: ModelFactory) -> ServerApp:
    """The task's ServerApp: the job's strategy, the held-out score after every round."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        """Run federated training, scoring the global model on the held-out test set."""
        settings = ServerSettings.from_run_config(context.run_config)
        secure = SecureAggregationSettings.from_run_config(context.run_config)
        encrypted = HomomorphicSettings.from_run_config(context.run_config)
        resume = resume_point(context.state)  # the coordinator restarted mid-job
        if resume is not None and check_async_job(context.run_config):
            raise TaskError("FedAsync/FedBuff jobs cannot resume after a restart")
        offset = resume.server_round if resume is not None else 0
        initial = (
            resume.arrays
            if resume is not None
            else ArrayRecord(build_seeded(build_model, settings.seed).state_dict())
        )
        train_config = participant_config(task.defaults, context.run_config)
        held_out = held_out_evaluate_fn(
            grid=grid, build_model=build_model, test_set=load_test_set(task.name)
        )
        stopper = EarlyStopping.from_run_config(context.run_config)
        latest = [initial]

        def evaluate_fn(server_round: int, arrays: ArrayRecord) -> MetricRecord:
            if offset and server_round == 0:  # the resumed round is stored already
                return MetricRecord({})
            metrics = held_out(server_round + offset, arrays)
            latest[0] = arrays
            if stopper is not None:
                stopper.check(server_round, float(metrics["loss"]))
            return metrics

        if offset:
            settings = replace(settings, num_rounds=max(0, settings.num_rounds - offset))
        keys = JobKeys(encrypted) if encrypted is not None else None
        try:
            if keys is not None:  # the coordinator never sees the model in the clear
                evaluate_fn(0, initial)  # the public initial model, as Strategy.start does

                def on_round(server_round: int, arrays: ArrayRecord, metrics: dict) -> None:
                    notify_round_end(grid, server_round, arrays, metrics)
                    latest[0] = arrays
                    if stopper is not None:
                        stopper.check(server_round, float(metrics["loss"]))

                if settings.strategy == "FedProx":  # FedProx's term is the participants' part
                    mu = float(settings.strategy_options.get("proximal_mu", 0.0))
                    train_config["proximal-mu"] = mu
                run_encrypted_rounds(
                    grid,
                    keys=keys,
                    initial=initial,
                    num_rounds=settings.num_rounds,
                    min_participants=settings.min_participants,
                    fraction_train=settings.fraction_train,
                    train_config=train_config,
                    on_round=on_round,
                    round_offset=offset,
                )
            else:
                _train(grid, context, settings, secure, initial, train_config, evaluate_fn, offset)
        except StopTraining:
            _after_training(grid, latest[0], context.run_config, keys)
            raise
        _after_training(grid, latest[0], context.run_config, keys)

    def _train(
        grid: Grid,
        context: Context,
        settings: ServerSettings,
        secure: SecureAggregationSettings | None,
        initial: ArrayRecord,
        train_config: ConfigRecord,
        evaluate_fn: Callable[[int, ArrayRecord], MetricRecord],
        offset: int = 0,
    ) -> None:
        asynchronous = check_async_job(context.run_config)
        if asynchronous is not None:  # FedAsync, FedBuff: see consortium_tasks.asynchronous
            run_async_rounds(
                grid,
                settings=asynchronous,
                initial_arrays=initial,
                num_rounds=settings.num_rounds,
                train_config=train_config,
                evaluate_fn=evaluate_fn,
                seed=settings.seed,
            )
            return
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
                round_offset=offset,
            )
            return
        central = CentralDPSettings.from_run_config(context.run_config)
        options = dict(settings.strategy_options)
        if central is not None:
            options["weighted_by_key"] = UNIT_WEIGHT_KEY  # see privacy.central_dp
        if PersonalizationSettings.from_run_config(context.run_config).quality_weighting:
            if central is not None:
                raise TaskError(
                    "weighting=quality is refused with central DP: its guarantee "
                    "needs every update to weigh the same"
                )
            options["weighted_by_key"] = QUALITY_WEIGHT_KEY
        strategy = build_strategy(
            settings.strategy,
            min_participants=settings.min_participants,
            fraction_train=settings.fraction_train,
            fraction_evaluate=settings.fraction_evaluate,
            options=options,
        )
        if central is not None:
            strategy = central.wrap(strategy, num_sampled_clients=settings.min_participants)
        every = parse_min_participation(context.run_config)
        if every:  # a minimum participation guarantee on top of the strategy's sampling
            strategy = FairSampling(strategy, max_rounds_unsampled=every)
        compression = CompressionSettings.from_run_config(context.run_config)
        if compression is not None:  # outermost: inner wrappers see decoded, full models
            strategy = CompressionStrategy(strategy, settings=compression)
        if offset:  # resumed: participants and the round hook see the job's round numbers
            strategy = RoundOffset(strategy, offset)
        strategy.start(
            grid=grid,
            initial_arrays=initial,
            num_rounds=settings.num_rounds,
            train_config=train_config,
            evaluate_config=participant_config(task.defaults, context.run_config),
            evaluate_fn=evaluate_fn,
        )

    return app
