"""Publishing to a JetStream stream until the server has stored the message, or giving up late.

A plain ``js.publish`` fails as soon as NATS is away (restarting, a network cut), and an event
or an audit record dropped there is lost for good. :func:`publish_until_stored` keeps trying,
with a growing pause, while the client reconnects. Every try carries the same ``Nats-Msg-Id``,
so a copy that reached the stream although its acknowledgement did not is dropped by the
stream's duplicate window; the default time to give up (110 s) stays inside the 120 s window.
"""

from __future__ import annotations

import asyncio
import logging
import time

from nats.js.client import JetStreamContext

__all__ = ["GIVE_UP_AFTER_S", "publish_until_stored"]

log = logging.getLogger(__name__)

GIVE_UP_AFTER_S = 110.0
"""How long a message is retried: less than the streams' 120 s duplicate window."""


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
    deadline = time.monotonic() + give_up_after_s
    pause, attempt = 0.25, 0
    while True:
        attempt += 1
        try:
            await js.publish(
                subject, payload, timeout=ack_timeout_s, headers={"Nats-Msg-Id": msg_id}
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # away, timed out, no responders while the stream loads
            left = deadline - time.monotonic()
            if left <= 0:
                log.error("%s not published after %d tries: %s; it is lost", what, attempt, exc)
                return False
            if attempt == 1:
                log.warning("%s not published yet (%s); retrying for %.0f s", what, exc, left)
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 5.0)
            continue
        if attempt > 1:
            log.info("%s published after %d tries", what, attempt)
        return True
