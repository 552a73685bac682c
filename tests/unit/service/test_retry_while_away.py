"""``retry_while_away``: an idempotent NATS call is repeated while NATS is away, then given up
on with its own error."""

from __future__ import annotations

import asyncio

import pytest
from consortium_service.durable_publish import retry_while_away
from nats.errors import TimeoutError as NatsTimeout


def test_a_call_that_fails_while_nats_restarts_is_repeated_until_it_succeeds() -> None:
    tries: list[int] = []

    async def put() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise NatsTimeout
        return "stored"

    assert asyncio.run(retry_while_away(put, what="checkpoint j/round-1")) == "stored"
    assert len(tries) == 3


def test_it_gives_up_with_the_last_error() -> None:
    async def put() -> None:
        raise NatsTimeout

    with pytest.raises(NatsTimeout):
        asyncio.run(retry_while_away(put, what="checkpoint", give_up_after_s=0.3))
