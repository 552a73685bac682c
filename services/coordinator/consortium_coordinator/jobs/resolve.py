"""Turn a ``JobCreate`` into what the runner needs, refusing unknown names with the known ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from consortium_core.asynchronous import ASYNC_STRATEGIES, check_async_job
from consortium_core.compression import CompressionSettings
from consortium_core.contribution import ContributionSettings
from consortium_core.errors import ConsortiumError, UnknownNameError
from consortium_core.fair_sampling import parse_min_participation
from consortium_core.homomorphic import HomomorphicSettings
from consortium_core.privacy.central_dp import CentralDPSettings
from consortium_core.privacy.job_budget import JobBudget
from consortium_core.secure_aggregation import SecureAggregationSettings
from consortium_core.strategies import STRATEGIES, build_strategy
from consortium_core.vertical import VerticalSettings
from consortium_tasks.early_stopping import EarlyStopping
from consortium_tasks.personalization import PersonalizationSettings
from consortium_tasks.registry import TASKS, load_app
from consortium_tasks.server_settings import ServerSettings
from flwr.serverapp import ServerApp
from flwr.serverapp.strategy import FedAvg

from .schemas import JobCreate

__all__ = ["InvalidJobError", "ResolvedJob", "resolve_job"]


class InvalidJobError(ConsortiumError, ValueError):
    """A job request that cannot run as asked; the text says what to change."""


@dataclass(frozen=True)
class ResolvedJob:
    """A job request with its apps located and its run config assembled."""

    task: str
    server_app: str
    client_task: str
    run_config: dict[str, Any]


def resolve_job(request: JobCreate) -> ResolvedJob:
    """Validate names and build the run config; raise ``UnknownNameError``/``InvalidJobError``."""
    if request.strategy not in STRATEGIES and request.strategy not in ASYNC_STRATEGIES:
        raise UnknownNameError("strategy", request.strategy, [*STRATEGIES, *ASYNC_STRATEGIES])
    if request.task in TASKS:
        spec = TASKS[request.task]
        server_app, client_task = spec.server_app, request.client_task or spec.name
    elif ":" in request.task:
        server_app = request.task
        if not request.client_task:
            raise InvalidJobError(
                "a job that names its ServerApp by import path must also name `client_task` "
                "(a built-in task or a ClientApp as module:attr installed on the participants)"
            )
        client_task = request.client_task
        try:
            app = load_app(server_app)
        except ConsortiumError as exc:
            raise InvalidJobError(str(exc)) from exc
        if not isinstance(app, ServerApp):
            raise InvalidJobError(f"{server_app} is a {type(app).__name__}, not a Flower ServerApp")
    else:
        raise UnknownNameError("task", request.task, TASKS)
    if request.config.get("min-participants", request.min_participants) != request.min_participants:
        raise InvalidJobError("set min_participants in the job, not in config")
    run_config = {
        **request.config,
        "num-server-rounds": request.rounds,
        "strategy": request.strategy,
        "min-participants": request.min_participants,
    }
    if request.task in TASKS and TASKS[request.task].kind == "vertical":
        try:  # refuses what only horizontal jobs take (DP-SGD, SecAgg+, strategy options...)
            VerticalSettings.from_run_config(run_config)
        except ConsortiumError as exc:
            raise InvalidJobError(str(exc)) from exc
    _check_privacy(run_config)
    _check_training(run_config)
    return ResolvedJob(request.task, server_app, client_task, run_config)


def _check_privacy(run_config: dict[str, Any]) -> None:
    """Refuse privacy (and early-stopping) settings that cannot work, before the job waits
    for anyone."""
    try:
        secure = SecureAggregationSettings.from_run_config(run_config)
        HomomorphicSettings.from_run_config(run_config)  # he-ckks: refuses what cannot work
        JobBudget.from_run_config(run_config)
        EarlyStopping.from_run_config(run_config)
        central = CentralDPSettings.from_run_config(run_config)
        ContributionSettings.from_run_config(run_config)
        CompressionSettings.from_run_config(run_config)  # refuses SecAgg+, client-side DP
        check_async_job(run_config)  # FedAsync/FedBuff: async.* values, no SecAgg+/central DP
    except ConsortiumError as exc:
        raise InvalidJobError(str(exc)) from exc
    if central is not None and secure is not None:
        raise InvalidJobError(
            "central-dp with secure-aggregation is not available yet: use DP-SGD on the "
            "participants (dp-noise-multiplier or dp-target-epsilon) with secure aggregation"
        )
    if central is not None and not issubclass(STRATEGIES[run_config["strategy"]], FedAvg):
        raise InvalidJobError(
            f"central-dp needs a FedAvg-family strategy (equal weights per participant); "
            f"{run_config['strategy']} is not one"
        )
    if secure is not None and run_config["strategy"] != "FedAvg":
        raise InvalidJobError(
            "secure aggregation runs with strategy FedAvg only (Flower's SecAgg+ workflow "
            f"sums updates; {run_config['strategy']} needs to see each one)"
        )


def _check_training(run_config: dict[str, Any]) -> None:
    """Refuse strategy, sampling and personalization settings that cannot work."""
    try:
        settings = ServerSettings.from_run_config(run_config)
        if run_config["strategy"] in STRATEGIES:
            build_strategy(
                settings.strategy,
                min_participants=settings.min_participants,
                fraction_train=settings.fraction_train,
                fraction_evaluate=settings.fraction_evaluate,
                options=settings.strategy_options,
            )
        parse_min_participation(run_config)
        PersonalizationSettings.from_run_config(run_config)
    except (ConsortiumError, ValueError, TypeError) as exc:
        raise InvalidJobError(str(exc)) from exc
