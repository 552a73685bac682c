"""Publishing to a JetStream stream until the server has stored the message, or giving up late.

A plain ``js.publish`` fails as soon as NATS is away (restarting, a network cut), and an event
or an audit record dropped there is lost for good. :func:`publish_until_stored` keeps trying,
with a growing pause, while the client reconnects. Every try carries the same ``Nats-Msg-Id``,
so a copy that reached the stream although its acknowledgement did not is dropped by the
stream's duplicate window; the default time to give up (110 s) stays inside the 120 s window.
:func:`retry_while_away` does the same for any idempotent call (an object-store put under a
fixed name: a checkpoint).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.js.client import JetStreamContext

__all__ = ["GIVE_UP_AFTER_S", "publish_until_stored", "retry_while_away"]

log = logging.getLogger(__name__)

GIVE_UP_AFTER_S = 110.0
"""How long a message is retried: less than the streams' 120 s duplicate window."""

T = TypeVar("T")


async def retry_while_away(
    call: Callable[[], Awaitable[T]], *, what: str, give_up_after_s: float = GIVE_UP_AFTER_S
) -> T:
    """``await call()`` until it succeeds, pausing longer each time while NATS is away; after
    ``give_up_after_s`` of failures the last error is raised. ``call`` must be safe to repeat."""
    deadline = time.monotonic() + give_up_after_s
    pause, attempt = 0.25, 0
    while True:
        attempt += 1
        try:
            result = await call()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # away, timed out, no responders while the stream loads
            left = deadline - time.monotonic()
            if left <= 0:
                log.error("%s failed after %d tries: %s", what, attempt, exc)
                raise
            if attempt == 1:
                log.warning("%s failed (%s); retrying for %.0f s", what, exc, left)
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 5.0)
            continue
        if attempt > 1:
            log.info("%s done after %d tries", what, attempt)
        return result


async def publish_until_stored(
    js: JetStreamContext,
    subject: str,
    payload: bytes,
    *,
    msg_id: str,
    what: str,
    give_up_after_s: float = GIVE_UP_AFTER_S,
    ack_timeout_s: float = 5.0,
) -> bool:
    """Publish ``payload`` with ``msg_id``; True once the stream has it, False after
    ``give_up_after_s`` of failures (logged with ``what``, so the log says what was lost)."""
    try:
        await retry_while_away(
            lambda: js.publish(
                subject, payload, timeout=ack_timeout_s, headers={"Nats-Msg-Id": msg_id}
            ),
            what=f"publishing {what}",
            give_up_after_s=give_up_after_s,
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error(
            "%s not published after %.0f s of tries: %s; it is lost", what, give_up_after_s, exc
        )
        return False
    return True
