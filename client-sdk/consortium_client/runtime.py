"""The long-lived client runtime: Flower messages in over NATS, the ClientApp called in-process.

One process per participant. It imports torch once, keeps one Flower ``Context`` per run (mods
such as ``secaggplus_mod`` keep their protocol state there), announces itself with heartbeats,
and reconnects by itself when NATS restarts. A message that comes again under the same id (the
coordinator sends unanswered messages again after a reconnection, as one may have been lost) is
answered with the reply it already got, from a small cache: the ClientApp never runs it twice,
so no round is trained, or charged to the privacy ledger, twice. It runs only the tasks it was
given: a message for another task gets an error reply that names the allowed ones. A ClientApp
that raises (for example ``PrivacyBudgetExceeded`` when a round would take the participant over
its own privacy limit) gets an error reply whose reason is ``"<ExceptionType>: <message>"``.

Each run's node config is the participant's ``node_config`` with the runtime's own keys on top
(:mod:`consortium_core.contracts.node_config`): ``runtime_node_config`` (the privacy ledger's
path and policy) and ``job-id``, the coordinator's id of the job, from the message envelope. The
runtime's keys always win: a participant's ``node_config`` entry with one of those names is
dropped, with a warning, so nothing can point a ClientApp at another ledger or limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from consortium_core import subjects
from consortium_core.contracts import node_config as runtime_keys
from consortium_core.contracts.envelope import Envelope
from consortium_core.contracts.presence import Heartbeat, node_id_for
from consortium_core.errors import WireFormatError
from consortium_core.wire import decode_frame, encode_frame
from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import ErrorCode
from flwr.supercore.task_identity import TaskIdentity
from nats.aio.client import Client as NatsClient

from .transport import connect, publish_frame, subscribe_frames

__all__ = ["ClientRuntime", "RuntimeStats"]

log = logging.getLogger(__name__)

REPLIES_KEPT = 4
"""Replies kept to answer a message sent again (a round has one message in flight per phase)."""


@dataclass
class RuntimeStats:
    """Counters a caller (the CLI's status line, tests) can read."""

    messages: int = 0
    errors: int = 0
    refused: int = 0
    answered_again: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    last_error: str = ""
    runs: set[int] = field(default_factory=set)


class ClientRuntime:
    """Serve Flower messages for one participant until :meth:`stop` is called."""

    def __init__(
        self,
        *,
        participant_id: str,
        nats_url: str,
        apps: Mapping[str, ClientApp],
        node_config: Mapping[str, bool | int | float | str] | None = None,
        runtime_node_config: Mapping[str, bool | int | float | str] | None = None,
        heartbeat_s: float = 1.0,
        tls: object | None = None,
    ) -> None:
        self.participant_id = subjects.check_participant_id(participant_id)
        self.node_id = node_id_for(participant_id)
        self.nats_url = nats_url
        self.apps = dict(apps)
        self.runtime_node_config = dict(runtime_node_config or {})
        self.node_config = self._participant_keys(node_config or {})
        self.heartbeat_s = heartbeat_s
        self.tls = tls
        self.stats = RuntimeStats()
        self._contexts: dict[int, Context] = {}
        self._queue: asyncio.Queue[list[memoryview] | bytes | bytearray] = asyncio.Queue()
        self._stopping = asyncio.Event()
        self._busy = False
        self._nc: NatsClient | None = None
        # One worker thread: the ClientApp runs off the event loop (heartbeats keep flowing)
        # and torch state stays in one thread.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clientapp")
        self._answered: OrderedDict[str, list[bytes]] = OrderedDict()  # message id -> reply
        self.ready = asyncio.Event()

    def _participant_keys(
        self, node_config: Mapping[str, bool | int | float | str]
    ) -> dict[str, bool | int | float | str]:
        owned = runtime_keys.RUNTIME_KEYS | self.runtime_node_config.keys()
        dropped = sorted(owned & node_config.keys())
        if dropped:
            log.warning(
                "node config keys %s are set by the runtime itself; the given values are ignored",
                ", ".join(dropped),
            )
        return {key: value for key, value in node_config.items() if key not in owned}

    def node_config_for(self, job_id: str) -> dict[str, bool | int | float | str]:
        """The node config a run of job ``job_id`` gets: the participant's keys, then the
        runtime's (privacy ledger, ``job-id``) over them."""
        config = {**self.node_config, **self.runtime_node_config}
        if job_id:
            config[runtime_keys.JOB_ID] = job_id
        return config

    async def run(self) -> None:
        """Connect, subscribe, serve messages and send heartbeats until stopped."""
        connecting = asyncio.create_task(
            connect(self.nats_url, name=f"client:{self.participant_id}", tls=self.tls)
        )
        stopping = asyncio.create_task(self._stopping.wait())
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not connecting.done():  # stopped while NATS was still unreachable
            connecting.cancel()
            self._executor.shutdown(wait=False, cancel_futures=True)
            return
        stopping.cancel()
        self._nc = nc = connecting.result()
        await subscribe_frames(nc, subjects.inbox(self.participant_id), self._on_frame)
        await nc.flush()
        log.info(
            "participant %s (node %d) online at %s; tasks: %s",
            self.participant_id,
            self.node_id,
            self.nats_url,
            ", ".join(sorted(self.apps)),
        )
        worker = asyncio.create_task(self._serve())
        beat = asyncio.create_task(self._heartbeats())
        self.ready.set()
        try:
            await self._stopping.wait()
        finally:
            worker.cancel()
            beat.cancel()
            try:
                await self._publish_heartbeat(online=False)
                await asyncio.wait_for(nc.flush(), timeout=2)
            except Exception as exc:  # already disconnected: nothing more to say
                log.debug("last heartbeat not sent: %s", exc)
            await nc.close()
            self._executor.shutdown(wait=False, cancel_futures=True)

    def stop(self) -> None:
        """Ask :meth:`run` to finish (announces the participant offline first)."""
        self._stopping.set()

    async def _on_frame(self, _subject: str, frame: list[memoryview] | bytes | bytearray) -> None:
        await self._queue.put(frame)

    async def _heartbeats(self) -> None:
        while True:
            try:
                await self._publish_heartbeat(online=True)
            except Exception as exc:  # disconnected: nats-py reconnects by itself
                log.debug("heartbeat not sent: %s", exc)
            await asyncio.sleep(self.heartbeat_s)

    async def _publish_heartbeat(self, *, online: bool) -> None:
        assert self._nc is not None
        beat = Heartbeat(
            participant_id=self.participant_id,
            node_id=self.node_id,
            tasks=sorted(self.apps),
            online=online,
            busy=self._busy,
            sent_at=time.time(),
        )
        await self._nc.publish(
            subjects.heartbeat(self.participant_id), beat.model_dump_json().encode()
        )

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._nc is not None
        while True:
            frame = await self._queue.get()
            self._busy = True
            try:
                size = sum(len(f) for f in frame) if isinstance(frame, list) else len(frame)
                self.stats.bytes_in += size
                buffers = await loop.run_in_executor(self._executor, self._handle, frame)
                if buffers is not None:
                    self.stats.bytes_out += await publish_frame(
                        self._nc, subjects.reply(self.participant_id), buffers
                    )
            except Exception as exc:  # never let one message stop the runtime
                self.stats.errors += 1
                self.stats.last_error = str(exc)
                log.exception("failed to handle a message: %s", exc)
            finally:
                self._busy = False

    def _handle(self, frame: list[memoryview] | bytes | bytearray) -> list[bytes] | None:
        """Decode, run the ClientApp, encode the reply. Runs in the worker thread."""
        try:
            message, raw_envelope = decode_frame(frame)
            envelope = Envelope.model_validate(raw_envelope)
        except (WireFormatError, ValueError) as exc:
            self.stats.errors += 1
            log.warning("dropped an undecodable message: %s", exc)
            return None
        message_id = message.metadata.message_id
        if message_id in self._answered:
            self.stats.answered_again += 1
            log.info(
                "job %s: %s message %s came again; sending the same reply",
                envelope.job_id,
                message.metadata.message_type,
                message_id,
            )
            return self._answered[message_id]
        self.stats.messages += 1
        reply = self._reply_to(message, envelope)
        buffers = encode_frame(reply, {"job_id": envelope.job_id, "task": envelope.task})
        if message_id:
            self._answered[message_id] = buffers
            while len(self._answered) > REPLIES_KEPT:
                self._answered.popitem(last=False)
        return buffers

    def _reply_to(self, message: Message, envelope: Envelope) -> Message:
        app = self.apps.get(envelope.task)
        if app is None:
            self.stats.refused += 1
            reason = (
                f"participant {self.participant_id} does not run task {envelope.task!r} "
                f"(allowed here: {', '.join(sorted(self.apps)) or 'none'})"
            )
            log.warning("refused job %s: %s", envelope.job_id, reason)
            return Message(
                Error(code=ErrorCode.LOAD_CLIENT_APP_EXCEPTION, reason=reason), reply_to=message
            )
        run_id = message.metadata.run_id
        context = self._contexts.get(run_id)
        if context is None:
            context = Context(
                run_id=run_id,
                node_id=self.node_id,
                node_config=self.node_config_for(envelope.job_id),
                state=RecordDict(),
                run_config=dict(envelope.run_config),
            )
            self._contexts[run_id] = context
            self.stats.runs.add(run_id)
        TaskIdentity.run_id = run_id
        TaskIdentity.node_id = self.node_id
        TaskIdentity.task_id = 0
        started = time.perf_counter()
        try:
            reply = app(message, context)
        except Exception as exc:
            self.stats.errors += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            log.exception(
                "ClientApp raised on %s for job %s", message.metadata.message_type, envelope.job_id
            )
            return Message(
                Error(
                    code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION,
                    reason=f"{type(exc).__name__}: {exc}",
                ),
                reply_to=message,
            )
        log.info(
            "job %s: %s done in %.2f s",
            envelope.job_id,
            message.metadata.message_type,
            time.perf_counter() - started,
        )
        # The ClientApp may have built its reply without reply_to; make the link explicit.
        reply.metadata.__dict__["_reply_to_message_id"] = message.metadata.message_id
        return reply
