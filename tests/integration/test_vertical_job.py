"""A vertical job on the real runtime: coordinator, a bank and a shop as client processes, NATS
and Postgres. A spy on NATS sees every frame to and from the parties: no raw feature row and no
customer ID of either party crosses, only blinded PSI points, embeddings and gradients."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nats
import pytest
from consortium_client.transport import subscribe_frames
from consortium_core.subjects import PREFIX
from consortium_core.wire import decode_frame
from consortium_tasks.fraud_vertical.data import party_table
from support.processes import Coordinator, client, running

pytestmark = pytest.mark.integration
PARTIES = {
    "v-bank": {"party": "bank", "customers": 6000},
    "v-shop": {"party": "shop", "customers": 6000},
}


@contextmanager
def spy(nats_url: str) -> Iterator[list[tuple[str, bytes]]]:
    """Every complete frame on the participants' subjects, as (subject, bytes)."""
    frames: list[tuple[str, bytes]] = []
    ready, done = threading.Event(), threading.Event()

    async def watch() -> None:
        nc = await nats.connect(nats_url)

        async def keep(subject: str, frame) -> None:  # frame: bytes or its segments
            pieces = [frame] if isinstance(frame, bytes | bytearray) else frame
            frames.append((subject, b"".join(bytes(p) for p in pieces)))

        await subscribe_frames(nc, f"{PREFIX}.participant.*.in", keep)
        await subscribe_frames(nc, f"{PREFIX}.participant.*.out.reply", keep)
        await nc.flush()
        ready.set()
        await asyncio.to_thread(done.wait)
        await nc.drain()

    thread = threading.Thread(target=asyncio.run, args=(watch(),), daemon=True)
    thread.start()
    assert ready.wait(15), "the spy could not subscribe"
    try:
        yield frames
    finally:
        done.set()
        thread.join(15)


def test_bank_and_shop_train_a_vertical_model_and_nothing_raw_crosses(
    tmp_path: Path, database_url: str, nats_server
) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    parties = [
        client(
            tmp_path / f"{name}.log",
            name,
            nats_server.url,
            task="fraud-vertical",
            node_config=f"party='{config['party']}' customers={config['customers']}",
        )
        for name, config in PARTIES.items()
    ]
    with running(coordinator, *parties), spy(nats_server.url) as frames:
        coordinator.wait_healthy()
        coordinator.wait_online(list(PARTIES))
        created = coordinator.http.post(
            "/jobs",
            json={
                "task": "fraud-vertical",
                "rounds": 3,
                "min_participants": 2,
                "config": {"batch-size": 128},
            },
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        job = coordinator.wait_job(job_id, timeout=240)
        assert job["status"] == "completed", (job, coordinator.output()[-3000:])
        rounds = coordinator.http.get(f"/jobs/{job_id}/rounds").json()
        model = coordinator.http.get(f"/jobs/{job_id}/model")
        assert model.status_code == 409 and "holds no model" in model.text, model.text

    tables = [party_table(config) for config in PARTIES.values()]
    shared = set(tables[0].ids) & set(tables[1].ids)
    assert job["metrics"]["intersection_size"] == len(shared)
    assert 0.6 < job["metrics"]["auc"] <= 1.0
    assert "label_holder_alone_auc" in job["metrics"]
    assert [r["number"] for r in rounds] == [0, 1, 2, 3]
    assert sorted(rounds[1]["participants"]) == sorted(PARTIES)  # both trained in the epoch

    job_frames = [(s, f) for s, f in frames if decode_frame(f)[1].get("job_id") == job_id]
    kinds = {decode_frame(f)[0].metadata.message_type for s, f in job_frames if s.endswith(".in")}
    assert {"query.psi_request", "query.psi_serve", "train.forward", "train.step"} <= kinds
    wire = b"\n".join(f for _, f in job_frames)
    for table in tables:
        assert not [i for i in table.ids if i.encode() in wire], f"{table.party} IDs crossed"
        for row in table.features:
            assert row.tobytes() not in wire
            assert row[:2].tobytes() not in wire  # two neighbouring values, 8 bytes
            assert row.astype("float64")[:2].tobytes() not in wire
