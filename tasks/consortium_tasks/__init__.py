"""Built-in Consortium tasks: Flower ServerApp + ClientApp pairs with their models and data.

Importing this package is light (no torch): the registry names apps by import path.
"""

from .registry import TASKS, HyperParams, TaskSpec, get_task, load_app

__all__ = ["TASKS", "HyperParams", "TaskSpec", "get_task", "load_app"]
