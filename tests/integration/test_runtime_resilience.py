"""The runtime against the real world: stock Flower apps, NATS restarts, late infrastructure."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import nats
import numpy as np
import pytest
from consortium_client.runtime import ClientRuntime
from consortium_client.transport import publish_frame, subscribe_frames
from consortium_core import subjects
from consortium_core.wire import decode_frame, encode_frame
from consortium_devtools.infra import free_port
from flwr.app import Array, ArrayRecord, Message, RecordDict
from flwr.app.metadata import Metadata
from flwr.clientapp import ClientApp
from support.processes import Coordinator, client, running

pytestmark = pytest.mark.integration
STOCK = "apps.stock_flower_app"


def test_stock_flower_app_runs_unmodified(tmp_path: Path, database_url: str, nats_server) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    clients = [
        client(
            tmp_path / f"s{i}.log",
            f"stock-{i}",
            nats_server.url,
            task=None,
            app=f"{STOCK}:app",
            node_config=f"partition-id={i}",
        )
        for i in range(2)
    ]
    with running(coordinator, *clients):
        coordinator.wait_healthy()
        coordinator.wait_online(["stock-0", "stock-1"])
        r = coordinator.http.post(
            "/jobs",
            json={
                "task": f"{STOCK}:server_app",
                "client_task": f"{STOCK}:app",
                "rounds": 3,
                "min_participants": 2,
                "config": {"local-epochs": 2},
            },
        )
        assert r.status_code == 201, r.text
        job = coordinator.wait_job(r.json()["id"])
        assert job["status"] == "completed", job
    for c in clients:
        log = c.output()
        assert log.count("train done") == 3 and log.count("evaluate done") == 3, log[-2000:]


def test_client_refuses_a_task_it_does_not_allow(nats_server) -> None:
    async def scenario() -> Message:
        app = ClientApp()
        runtime = ClientRuntime(
            participant_id="refuser",
            nats_url=nats_server.url,
            apps={"digits-cnn": app},
            heartbeat_s=0.2,
        )
        serving = asyncio.create_task(runtime.run())
        await asyncio.wait_for(runtime.ready.wait(), 20)
        nc = await nats.connect(nats_server.url)
        replies: asyncio.Queue[Message] = asyncio.Queue()

        async def on_reply(_subject: str, frame: object) -> None:
            await replies.put(decode_frame(frame)[0])  # type: ignore[arg-type]

        await subscribe_frames(nc, subjects.reply("refuser"), on_reply)
        meta = Metadata(
            run_id=1,
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
        frame = encode_frame(
            Message(metadata=meta, content=content),
            {"job_id": "j1", "task": "evil.module:app", "run_config": {}},
        )
        await publish_frame(nc, subjects.inbox("refuser"), frame)
        reply = await asyncio.wait_for(replies.get(), 20)
        runtime.stop()
        await serving
        await nc.close()
        assert runtime.stats.refused == 1
        return reply

    reply = asyncio.run(scenario())
    assert reply.has_error()
    assert "does not run task 'evil.module:app'" in reply.error.reason
    assert "digits-cnn" in reply.error.reason
    assert reply.metadata.reply_to_message_id == "ask-1"


def test_clients_and_coordinator_survive_a_nats_restart(
    tmp_path: Path, database_url: str, nats_server
) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    names = ["phoenix-0", "phoenix-1"]
    clients = [
        client(
            tmp_path / f"{n}.log",
            n,
            nats_server.url,
            node_config=f"partition-id={i} num-partitions=2",
        )
        for i, n in enumerate(names)
    ]
    with running(coordinator, *clients):
        coordinator.wait_healthy()
        coordinator.wait_online(names)
        nats_server.stop()
        time.sleep(2)
        nats_server.start()
        time.sleep(4)  # longer than the presence timeout: only new heartbeats count now
        coordinator.wait_online(names, timeout=30)
        r = coordinator.http.post(
            "/jobs", json={"task": "digits-cnn", "rounds": 2, "min_participants": 2}
        )
        job = coordinator.wait_job(r.json()["id"])
        assert job["status"] == "completed", job
    assert "NATS connection restored" in clients[0].output()


def _wait_for_log(process: Coordinator, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in process.output():
        assert process.proc.poll() is None, process.output()
        assert time.monotonic() < deadline, f"{text!r} never logged:\n{process.output()}"
        time.sleep(0.2)


def test_coordinator_waits_for_nats_and_postgres(
    tmp_path: Path, database_url: str, nats_server, postgres_url: str
) -> None:
    late_nats = nats_server.__class__(tmp_path / "late-nats", free_port())
    dead_pg = database_url.replace(":5432/", f":{free_port()}/")
    coordinator = Coordinator(tmp_path / "no-pg.log", database_url=dead_pg, nats_url=late_nats.url)
    with running(coordinator):
        _wait_for_log(coordinator, "Postgres not reachable")
        _wait_for_log(coordinator, "retrying in 1.0 s")  # still alive, still waiting
    coordinator = Coordinator(
        tmp_path / "late-nats.log", database_url=database_url, nats_url=late_nats.url
    )
    with running(coordinator):
        _wait_for_log(coordinator, "NATS at")
        assert "not reachable" in coordinator.output()
        late_nats.start()
        try:
            coordinator.wait_healthy(timeout=60)
        finally:
            late_nats.stop()
