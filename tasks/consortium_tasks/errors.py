"""Typed errors of the built-in tasks: what a user can get wrong about a task or their data."""

from __future__ import annotations

from consortium_core.errors import ConsortiumError

__all__ = ["AppImportError", "DatasetError", "TaskError"]


class TaskError(ConsortiumError):
    """Base class of the errors raised on purpose by ``consortium_tasks``."""


class AppImportError(TaskError, ImportError):
    """An app import path (``pkg.module:attr``) that is malformed, not installed or lacks attr."""


class DatasetError(TaskError, ValueError):
    """A data set that cannot be used: missing path, no classes, bad column, wrong shape."""
