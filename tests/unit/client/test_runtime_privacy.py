"""What the client runtime hands ClientApps about privacy, and what a refused round replies.

The runtime's message handling is called directly with a frame, as the NATS subscription would
hand it over (no NATS here: the transport is covered by tests/integration).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from consortium_client.runtime import ClientRuntime
from consortium_core.privacy import PrivacyBudgetExceeded, PrivacyLedger
from consortium_core.wire import decode_frame, encode_frame
from flwr.app import Array, ArrayRecord, Context, Message, RecordDict
from flwr.app.metadata import Metadata
from flwr.clientapp import ClientApp
from flwr.common.constant import ErrorCode

TASK = "dp-task"


@pytest.fixture
def ledger(tmp_path: Path) -> PrivacyLedger:
    return PrivacyLedger(
        tmp_path / "privacy" / "ledger.json", epsilon_limit=0.5, delta=1e-6, accountant="rdp"
    )


@contextmanager
def _runtime(app: ClientApp, ledger: PrivacyLedger, node_config: dict) -> Iterator[ClientRuntime]:
    runtime = ClientRuntime(
        participant_id="hospital-1",
        nats_url="nats://127.0.0.1:1",
        apps={TASK: app},
        node_config=node_config,
        runtime_node_config=ledger.to_node_config(),
    )
    try:
        yield runtime
    finally:
        runtime._executor.shutdown(wait=False)


def _train_frame(runtime: ClientRuntime, *, job_id: str, run_id: int) -> list[bytes]:
    meta = Metadata(
        run_id=run_id,
        message_id="ask-1",
        src_node_id=0,
        dst_node_id=runtime.node_id,
        reply_to_message_id="",
        group_id="",
        created_at=time.time(),
        ttl=60,
        message_type="train",
    )
    content = RecordDict({"arrays": ArrayRecord({"w": Array(np.zeros(3, np.float32))})})
    return encode_frame(
        Message(metadata=meta, content=content),
        {"job_id": job_id, "task": TASK, "run_config": {"ledger": "/elsewhere.json"}},
    )


def test_runtime_keys_win_over_the_participants_and_name_the_job(
    ledger: PrivacyLedger,
) -> None:
    seen: list[Context] = []
    app = ClientApp()

    @app.train()
    def train(message: Message, context: Context) -> Message:
        seen.append(context)
        return Message(RecordDict(), reply_to=message)

    given = {
        "partition-id": 3,
        "privacy-ledger": "/tmp/elsewhere.json",
        "privacy-epsilon-limit": 1e9,
        "job-id": "not-this-one",
    }
    with _runtime(app, ledger, given) as runtime:
        reply, envelope = decode_frame(
            runtime._handle(_train_frame(runtime, job_id="job-42", run_id=7))
        )
    assert not reply.has_error()
    assert envelope["job_id"] == "job-42"
    assert seen[0].node_config == {
        "partition-id": 3,
        "privacy-ledger": str(ledger.path),
        "privacy-epsilon-limit": 0.5,
        "privacy-delta": 1e-6,
        "privacy-accountant": "rdp",
        "job-id": "job-42",
    }
    from_app = PrivacyLedger.from_node_config(seen[0].node_config)
    assert from_app is not None and from_app.path == ledger.path


def test_without_a_limit_a_participants_limit_key_is_dropped(tmp_path: Path) -> None:
    unlimited = PrivacyLedger(tmp_path / "ledger.json")
    with _runtime(ClientApp(), unlimited, {"privacy-epsilon-limit": 1.0}) as runtime:
        config = runtime.node_config_for("job-1")
    assert "privacy-epsilon-limit" not in config
    assert config["job-id"] == "job-1"


def test_a_refused_round_replies_an_error_with_the_reason(ledger: PrivacyLedger) -> None:
    app = ClientApp()

    @app.train()
    def train(message: Message, context: Context) -> Message:
        charged = PrivacyLedger.from_node_config(context.node_config)
        assert charged is not None
        charged.charge(
            job_id=str(context.node_config["job-id"]),
            run_id=context.run_id,
            server_round=1,
            noise_multiplier=1.0,
            sample_rate=0.01,
            steps=1000,
            delta=1e-5,
        )
        raise AssertionError("the charge above is over the limit")

    with _runtime(app, ledger, {}) as runtime:
        reply, _ = decode_frame(runtime._handle(_train_frame(runtime, job_id="job-9", run_id=5)))
        stats = runtime.stats
    assert reply.has_error()
    assert reply.error.code == ErrorCode.CLIENT_APP_RAISED_EXCEPTION
    reason = reply.error.reason
    assert reason.startswith("PrivacyBudgetExceeded: privacy budget exceeded: round 1 of job job-9")
    assert str(ledger.path) in reason and "limit 0.5" in reason
    assert reply.metadata.reply_to_message_id == "ask-1"
    assert stats.errors == 1 and stats.last_error == reason
    assert ledger.entries() == []
    with pytest.raises(PrivacyBudgetExceeded):  # the same charge, made directly
        ledger.charge(
            job_id="job-9", server_round=1, noise_multiplier=1.0, sample_rate=0.01, steps=1000,
            delta=1e-5,
        )  # fmt: skip


def test_a_message_sent_again_is_answered_from_the_cache_not_trained_twice(
    ledger: PrivacyLedger,
) -> None:
    """After a reconnection the coordinator sends an unanswered message again under its id: the
    participant replies as before without running (and charging its ledger for) a second round."""
    calls: list[str] = []
    app = ClientApp()

    @app.train()
    def train(message: Message, context: Context) -> Message:
        calls.append(message.metadata.message_id)
        return Message(RecordDict(), reply_to=message)

    with _runtime(app, ledger, {}) as runtime:
        frame = _train_frame(runtime, job_id="job-1", run_id=3)
        first = runtime._handle(frame)
        again = runtime._handle(frame)
        assert calls == ["ask-1"]
        assert again == first and runtime.stats.answered_again == 1
        reply, _ = decode_frame(again)
        assert reply.metadata.reply_to_message_id == "ask-1"
