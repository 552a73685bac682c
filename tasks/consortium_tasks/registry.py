"""Registry of built-in tasks by name, and loading of apps by import path.

A task is a Flower ServerApp + ClientApp pair. Apps are named by import path
(``pkg.module:attr``) so that looking a task up imports neither torch nor the apps.

>>> get_task("digits-cnn").client_app
'consortium_tasks.digits_cnn.client_app:app'
>>> load_app("consortium_tasks.registry:TASKS") is TASKS
True
>>> get_task("digits-private").defaults.batch_size == FULL_BATCH
True
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass

from consortium_core.errors import UnknownNameError

from .errors import AppImportError

__all__ = [
    "DEFAULT_NUM_SERVER_ROUNDS",
    "FULL_BATCH",
    "TASKS",
    "HyperParams",
    "TaskSpec",
    "get_task",
    "load_app",
    "parse_batch_size",
]

FULL_BATCH = 0
"""``batch-size`` of a full batch: every step uses every example (DP-SGD's sample rate 1)."""
DEFAULT_NUM_SERVER_ROUNDS = 3
"""A job's rounds when its run config does not say (``num-server-rounds``)."""


def parse_batch_size(value: object) -> int:
    """A ``batch-size`` setting as an int: a positive integer, or :data:`FULL_BATCH` for 0 or
    ``"full"``.

    >>> parse_batch_size(32), parse_batch_size("16"), parse_batch_size("full"), parse_batch_size(0)
    (32, 16, 0, 0)
    >>> parse_batch_size(-2)
    Traceback (most recent call last):
    ...
    ValueError: batch-size must be a positive integer, 0 or 'full' (every example), got -2
    """
    if isinstance(value, str) and value.strip().lower() == "full":
        return FULL_BATCH
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or not number.is_integer() or number < 0:
        raise ValueError(
            f"batch-size must be a positive integer, 0 or 'full' (every example), got {value!r}"
        )
    return int(number)


@dataclass(frozen=True)
class HyperParams:
    """Local training settings; a run config may override each (``local-epochs``, ...).

    ``batch_size`` :data:`FULL_BATCH` (0) trains on every example at every step.
    """

    local_epochs: int
    learning_rate: float
    batch_size: int


@dataclass(frozen=True)
class TaskSpec:
    """A named task: its apps by import path and, for built-ins, its data set and model."""

    name: str
    description: str
    server_app: str
    client_app: str
    dataset: str | None = None
    model: str | None = None
    defaults: HyperParams = HyperParams(local_epochs=1, learning_rate=0.01, batch_size=32)
    kind: str = "horizontal"  # or "vertical": parties hold different columns of shared rows


TASKS: Mapping[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="digits-cnn",
            description="Small CNN on scikit-learn's 8x8 handwritten digits (10 classes)",
            server_app="consortium_tasks.digits_cnn.server_app:app",
            client_app="consortium_tasks.digits_cnn.client_app:app",
            dataset="sklearn-digits",
            model="consortium_tasks.models:DigitsCNN",
            defaults=HyperParams(local_epochs=2, learning_rate=0.1, batch_size=16),
        ),
        TaskSpec(
            name="digits-private",
            description="Digits for DP-SGD: a linear classifier on fixed edge features of "
            "per-image standardized 8x8 digits, full-batch noisy steps",
            server_app="consortium_tasks.digits_private.server_app:app",
            client_app="consortium_tasks.digits_private.client_app:app",
            dataset="sklearn-digits",
            model="consortium_tasks.models:DigitsEdgeLinear",
            defaults=HyperParams(local_epochs=2, learning_rate=0.7, batch_size=FULL_BATCH),
        ),
        TaskSpec(
            name="breast-cancer-logreg",
            description="Logistic regression on scikit-learn's breast cancer table (2 classes)",
            server_app="consortium_tasks.breast_cancer_logreg.server_app:app",
            client_app="consortium_tasks.breast_cancer_logreg.client_app:app",
            dataset="sklearn-breast-cancer",
            model="consortium_tasks.models:BreastCancerLogReg",
            defaults=HyperParams(local_epochs=2, learning_rate=0.1, batch_size=32),
        ),
        TaskSpec(
            name="devices-logreg",
            description="Cross-device: multinomial logistic regression on Synthetic(1, 1), "
            "many small non-IID devices generated per device (60 features, 10 classes)",
            server_app="consortium_tasks.devices_logreg.server_app:app",
            client_app="consortium_tasks.devices_logreg.client_app:app",
            dataset="synthetic-devices",
            model="consortium_tasks.devices_logreg.task:DevicesLogReg",
            defaults=HyperParams(local_epochs=1, learning_rate=0.1, batch_size=32),
        ),
        TaskSpec(
            name="fraud-vertical",
            description="Vertical: a bank (labels) and a shop align shared customers by private "
            "set intersection and train a split network on their own columns (fraud)",
            server_app="consortium_tasks.fraud_vertical.server_app:app",
            client_app="consortium_tasks.fraud_vertical.client_app:app",
            dataset="fraud-generator",
            model="consortium_tasks.fraud_vertical.models:BottomModel",
            defaults=HyperParams(local_epochs=1, learning_rate=0.03, batch_size=256),
            kind="vertical",
        ),
    )
}


def get_task(name: str) -> TaskSpec:
    """Return the built-in task ``name``; :class:`UnknownNameError` lists the known ones."""
    if name not in TASKS:
        raise UnknownNameError("task", name, TASKS)
    return TASKS[name]


def load_app(import_path: str) -> object:
    """Import ``pkg.module:attr`` and return the attribute (a ServerApp, a ClientApp, ...).

    >>> load_app("no_such_package.module:app")
    Traceback (most recent call last):
    ...
    consortium_tasks.errors.AppImportError: cannot import module 'no_such_package.module' \
for 'no_such_package.module:app': No module named 'no_such_package'
    """
    module_name, sep, attr_path = import_path.partition(":")
    if not sep or not module_name or not attr_path:
        raise AppImportError(
            f"app import path {import_path!r} must look like 'package.module:attribute'"
        )
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as error:
        raise AppImportError(
            f"cannot import module {module_name!r} for {import_path!r}: {error}"
        ) from error
    for attr in attr_path.split("."):
        try:
            target = getattr(target, attr)
        except AttributeError:
            raise AppImportError(
                f"module {module_name!r} has no attribute {attr_path!r} (from {import_path!r})"
            ) from None
    return target
