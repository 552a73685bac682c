"""JetStream replicas (``jetstream_replicas``): on a real three-server JetStream cluster the
services' streams and buckets get the replicas asked for, an existing stream is raised and never
lowered, and a stream survives the loss of the server that led it; a single server refuses more
than one replica with a clear error."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from consortium_coordinator.runtime.checkpoints import CheckpointStore
from consortium_devtools.infra import free_port, nats_server_binary, wait_for_port
from consortium_service.events_stream import ensure_events_stream
from consortium_service.jetstream import (
    JetStreamSetupError,
    audit_stream_config,
    ensure_object_store,
    ensure_stream,
)
from nats.js.api import ObjectStoreConfig, StreamConfig

SERVERS = 3


class Cluster:
    """Three nats-server processes with JetStream, routed to each other on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        self.ports = [free_port() for _ in range(SERVERS)]
        routes = [free_port() for _ in range(SERVERS)]
        self.urls = [f"nats://127.0.0.1:{port}" for port in self.ports]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        for i in range(SERVERS):
            name = f"n{i}"
            config = root / f"{name}.conf"
            config.write_text(
                f"server_name: {name}\nlisten: 127.0.0.1:{self.ports[i]}\n"
                f'jetstream {{ store_dir: "{root / name}" }}\n'
                f"cluster {{ name: replicas-test\n listen: 127.0.0.1:{routes[i]}\n"
                f" routes: [{', '.join(f'nats-route://127.0.0.1:{r}' for r in routes)}] }}\n"
            )
            self.processes[name] = subprocess.Popen(
                [nats_server_binary(), "-c", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=(root / f"{name}.log").open("wb"),
            )
        for port in self.ports:
            assert wait_for_port("127.0.0.1", port, 20), "nats-server did not start"

    def kill(self, name: str) -> None:
        self.processes[name].kill()
        self.processes[name].wait(10)

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            process.wait(10)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    running = Cluster(tmp_path)
    try:
        yield running
    finally:
        running.stop()


async def _until_jetstream_clustered(js, within_s: float = 30) -> None:
    """Wait until the cluster elected its JetStream meta leader (streams can be created)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        tag = uuid.uuid4().hex[:6]
        probe = StreamConfig(name=f"PROBE_{tag}", subjects=[f"probe.{tag}"], num_replicas=SERVERS)
        try:
            await js.add_stream(probe)
            await js.delete_stream(str(probe.name))
            return
        except Exception:  # no meta leader yet: unavailable, no responders, timeouts
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def test_streams_and_buckets_get_their_replicas_and_keep_them(cluster: Cluster) -> None:
    nc = await nats.connect(servers=cluster.urls)
    try:
        js = nc.jetstream()
        await _until_jetstream_clustered(js)

        await ensure_events_stream(js, replicas=3)
        events = await js.stream_info("CONSORTIUM_EVENTS")
        assert events.config.num_replicas == 3
        assert len(events.cluster.replicas or []) == 2  # the leader and two followers
        await ensure_events_stream(js, replicas=1)  # a service still configured for 1
        assert (await js.stream_info("CONSORTIUM_EVENTS")).config.num_replicas == 3

        await ensure_stream(js, audit_stream_config(1))  # an older deployment's stream
        await ensure_stream(js, audit_stream_config(3))
        assert (await js.stream_info("CONSORTIUM_AUDIT")).config.num_replicas == 3

        checkpoints = CheckpointStore(nc, "replicas-checkpoints", replicas=3)
        name, _ = await checkpoints.save("job-1", 0, b"model bytes")
        assert await checkpoints.load(name) == b"model bytes"
        assert (await js.stream_info("OBJ_replicas-checkpoints")).config.num_replicas == 3

        await js.create_object_store("older-bucket")  # one replica, as before the setting
        raised = ObjectStoreConfig(bucket="older-bucket", replicas=3, ttl=3600.0)
        store = await ensure_object_store(js, raised)
        await store.put("x", b"kept")
        older = (await js.stream_info("OBJ_older-bucket")).config
        assert (older.num_replicas, older.max_age) == (3, 3600.0)
    finally:
        await nc.close()


async def test_a_stream_outlives_the_server_that_led_it(cluster: Cluster) -> None:
    nc = await nats.connect(servers=cluster.urls, max_reconnect_attempts=-1)
    try:
        js = nc.jetstream()
        await _until_jetstream_clustered(js)
        await ensure_events_stream(js, replicas=3)
        await js.publish("consortium.v1.events.job-1.job_created", b"before")
        leader = (await js.stream_info("CONSORTIUM_EVENTS")).cluster.leader
        cluster.kill(leader)

        deadline = asyncio.get_running_loop().time() + 30
        while True:  # a new leader is elected among the two left
            try:
                await js.publish("consortium.v1.events.job-1.job_started", b"after", timeout=2)
                break
            except Exception:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.5)
        info = await js.stream_info("CONSORTIUM_EVENTS")
        assert info.cluster.leader != leader
        assert info.state.messages == 2
        first = await js.get_msg("CONSORTIUM_EVENTS", 1)
        assert first.data == b"before"
    finally:
        await nc.close()


async def test_a_single_server_refuses_replicas_with_a_clear_error(nats_server) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        tag = uuid.uuid4().hex[:8]
        refused = StreamConfig(name=f"REPLICAS_{tag}", subjects=[f"replicas.{tag}"])
        with pytest.raises(JetStreamSetupError, match=r"3 replica\(s\).*jetstream_replicas"):
            await ensure_stream(js, refused.evolve(num_replicas=3))
        with pytest.raises(JetStreamSetupError, match="object store"):
            await ensure_object_store(js, ObjectStoreConfig(bucket=f"replicas-{tag}", replicas=3))
        await ensure_stream(js, refused.evolve(num_replicas=1))  # one replica is fine
        await js.delete_stream(str(refused.name))
    finally:
        await nc.close()
