"""Simulated model-poisoning participants, for robustness tests and benchmarks only.

The runtime never uses this module: a real participant runs its own ClientApp. Here a
:class:`PoisonedClientApp` wraps a task's ClientApp in the in-process simulator and turns the
train replies of chosen partitions into attacks on the update ``delta = trained - received``:

- ``sign-flip``: the participant sends ``received - factor * delta`` (gradient ascent, the
  classic sign-flipping attack; ``factor`` 4 by default);
- ``scale``: it sends ``received + factor * delta`` (a boosted update that drags a mean, 10 by
  default).

>>> import numpy as np
>>> poison([np.zeros(2)], [np.array([1.0, -2.0])], attack="sign-flip", factor=2.0)
[array([-2.,  4.])]
>>> poison([np.ones(1)], [np.array([2.0])], attack="scale", factor=10.0)
[array([11.])]
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np
from consortium_core.errors import UnknownNameError
from flwr.app import Array, ArrayRecord, Context, Message, MessageType, RecordDict
from flwr.clientapp import ClientApp

__all__ = ["ATTACKS", "DEFAULT_FACTORS", "PoisonedClientApp", "poison"]

Arrays = Sequence[np.ndarray]
Attack = Callable[[np.ndarray, np.ndarray, float], np.ndarray]

ATTACKS: Mapping[str, Attack] = {
    "sign-flip": lambda received, delta, factor: received - factor * delta,
    "scale": lambda received, delta, factor: received + factor * delta,
}
DEFAULT_FACTORS: Mapping[str, float] = {"sign-flip": 4.0, "scale": 10.0}


def poison(
    received: Arrays, trained: Arrays, *, attack: str, factor: float | None = None
) -> list[np.ndarray]:
    """The arrays a participant running ``attack`` sends instead of ``trained``."""
    if attack not in ATTACKS:
        raise UnknownNameError("attack", attack, ATTACKS)
    scale = DEFAULT_FACTORS[attack] if factor is None else factor
    return [
        ATTACKS[attack](r, t - r, scale).astype(t.dtype)
        for r, t in zip(received, trained, strict=True)
    ]


class PoisonedClientApp:
    """A ClientApp whose partitions in ``attackers`` poison their train replies.

    It is called like a ClientApp (``app(message, context)``) by the in-process simulator; the
    attacked partitions are chosen by their node config's ``partition-id``.
    """

    def __init__(
        self,
        inner: ClientApp,
        *,
        attackers: Collection[int],
        attack: str,
        factor: float | None = None,
    ) -> None:
        if attack not in ATTACKS:
            raise UnknownNameError("attack", attack, ATTACKS)
        self._inner = inner
        self._attackers = frozenset(attackers)
        self._attack = attack
        self._factor = factor

    def __call__(self, message: Message, context: Context) -> Message:
        """Run the wrapped ClientApp; poison the reply if this node is an attacker."""
        received = _arrays_of(message)
        reply = self._inner(message, context)
        attacker = int(context.node_config.get("partition-id", -1)) in self._attackers
        if not attacker or message.metadata.message_type != MessageType.TRAIN:
            return reply
        if reply.has_error() or received is None or "arrays" not in reply.content:
            return reply
        record = reply.content["arrays"]
        names = list(record.keys())
        trained = [record[name].numpy() for name in names]
        poisoned = poison(
            [received[name] for name in names], trained, attack=self._attack, factor=self._factor
        )
        content = RecordDict(dict(reply.content.items()))
        content["arrays"] = ArrayRecord(
            {name: Array(array) for name, array in zip(names, poisoned, strict=True)}
        )
        return Message(content=content, reply_to=message)


def _arrays_of(message: Message) -> dict[str, np.ndarray] | None:
    if message.has_error() or "arrays" not in message.content:
        return None
    record = message.content["arrays"]
    return {name: array.numpy().copy() for name, array in record.items()}
