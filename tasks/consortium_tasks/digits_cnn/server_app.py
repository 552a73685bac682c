"""ServerApp of task ``digits-cnn``, written as in Flower's documentation.

It runs unchanged on Flower's runtime and on Consortium's; the only Consortium hook is
:func:`consortium_core.rounds.notify_round_end`, a no-op on other Grids.
"""

from __future__ import annotations

from consortium_core.strategies import build_strategy
from flwr.app import ArrayRecord, Context
from flwr.serverapp import Grid, ServerApp

from consortium_tasks.data import load_test_set
from consortium_tasks.digits_cnn.task import TASK, build_model
from consortium_tasks.models import build_seeded
from consortium_tasks.server_settings import (
    ServerSettings,
    held_out_evaluate_fn,
    participant_config,
)

__all__ = ["app"]

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run federated training, scoring the global model on the held-out test set every round."""
    settings = ServerSettings.from_run_config(context.run_config)
    strategy = build_strategy(
        settings.strategy,
        min_participants=settings.min_participants,
        fraction_train=settings.fraction_train,
        fraction_evaluate=settings.fraction_evaluate,
        options=settings.strategy_options,
    )
    initial_model = build_seeded(build_model, settings.seed)
    strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(initial_model.state_dict()),
        num_rounds=settings.num_rounds,
        train_config=participant_config(TASK.defaults, context.run_config),
        evaluate_config=participant_config(TASK.defaults, context.run_config),
        evaluate_fn=held_out_evaluate_fn(
            grid=grid, build_model=build_model, test_set=load_test_set(TASK.name)
        ),
    )
