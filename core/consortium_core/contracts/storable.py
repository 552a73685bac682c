"""Request bodies whose text ends up in Postgres: no NUL characters, valid UTF-8 only.

Postgres cannot store ``\\u0000`` in ``text`` or ``jsonb``, and a lone UTF-16 surrogate (valid
in JSON, not in UTF-8) cannot be encoded at all; either would otherwise fail deep in the
database driver as a server error. Models that inherit :class:`StorableModel` refuse them up
front, with a validation error that names the problem.

>>> class Note(StorableModel):
...     text: str
>>> Note(text="fine").text
'fine'
>>> from pydantic import ValidationError
>>> try:
...     Note(text="bad\\x00")
... except ValidationError as exc:
...     print(exc.errors()[0]["msg"])
Value error, text may not contain the NUL character (\\u0000)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator

__all__ = ["StorableModel", "check_storable_text"]


def check_storable_text(value: Any) -> None:
    """Raise ``ValueError`` if any string in ``value`` (nested too) cannot be stored."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text may not contain the NUL character (\\u0000)")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable_text(key)
            check_storable_text(item)
    elif isinstance(value, list | tuple):
        for item in value:
            check_storable_text(item)


class StorableModel(BaseModel):
    """A request body that will be stored: its text must be storable in Postgres."""

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        check_storable_text(data)
        return data
