"""Global-model checkpoints, and participants' updates for contributions, as safetensors in
JetStream object store buckets."""

from __future__ import annotations

import hashlib
import json

import numpy as np
from consortium_core.contracts.objects import checkpoint_object, update_object
from consortium_service.durable_publish import retry_while_away
from consortium_service.jetstream import ensure_object_store
from flwr.app import Array, ArrayRecord
from nats.aio.client import Client as NatsClient
from nats.js.api import ObjectStoreConfig
from nats.js.object_store import ObjectStore
from safetensors.numpy import load, save

__all__ = [
    "CheckpointStore",
    "UpdateStore",
    "arrays_to_safetensors",
    "safetensors_to_arrays",
]


ORDER_KEY = "consortium.keys"  # the ArrayRecord's key order (safetensors sorts by name)


def arrays_to_safetensors(arrays: ArrayRecord, metadata: dict[str, str]) -> bytes:
    """Serialize a Flower ArrayRecord (numpy arrays) to safetensors bytes."""
    tensors = {key: np.ascontiguousarray(array.numpy()) for key, array in arrays.items()}
    return save(tensors, metadata={**metadata, ORDER_KEY: json.dumps(list(tensors))})


def safetensors_to_arrays(data: bytes) -> ArrayRecord:
    """The ArrayRecord a checkpoint holds, in its original key order where recorded.

    >>> record = ArrayRecord({"b": Array(np.ones(2)), "a": Array(np.zeros(1))})
    >>> list(safetensors_to_arrays(arrays_to_safetensors(record, {})))
    ['b', 'a']
    """
    tensors = load(data)
    header_size = int.from_bytes(data[:8], "little")
    metadata = json.loads(data[8 : 8 + header_size]).get("__metadata__") or {}
    order = json.loads(metadata[ORDER_KEY]) if ORDER_KEY in metadata else list(tensors)
    return ArrayRecord({key: Array(tensors[key]) for key in order})


class CheckpointStore:
    """Saves and loads checkpoints named ``<job id>/round-<n>.safetensors``."""

    def __init__(self, nc: NatsClient, bucket: str, *, replicas: int = 1) -> None:
        self._nc = nc
        self._config = ObjectStoreConfig(bucket=bucket, replicas=replicas)
        self._store: ObjectStore | None = None

    async def _get_store(self) -> ObjectStore:
        if self._store is None:
            self._store = await ensure_object_store(self._nc.jetstream(), self._config)
        return self._store

    async def save(self, job_id: str, server_round: int, data: bytes) -> tuple[str, str]:
        """Store ``data``, retried while NATS restarts (a put under the same name replaces);
        return its object name and sha256."""
        name = checkpoint_object(job_id, server_round)

        async def put() -> None:
            await (await self._get_store()).put(name, data)

        await retry_while_away(put, what=f"checkpoint {name}")
        return name, hashlib.sha256(data).hexdigest()

    async def load(self, name: str) -> bytes:
        """The bytes of checkpoint ``name``."""
        store = await self._get_store()
        result = await store.get(name)
        return result.data or b""


class UpdateStore:
    """Each participant's trained model of a round, ``<job id>/round-<n>/<participant>.
    safetensors``, kept for ``ttl_s`` seconds: the contribution service builds coalition models
    from them. Only jobs whose server may see each update store any (never under SecAgg+)."""

    def __init__(self, nc: NatsClient, bucket: str, ttl_s: float, *, replicas: int = 1) -> None:
        self._nc = nc
        self._config = ObjectStoreConfig(
            bucket=bucket,
            ttl=ttl_s,
            description="participants' updates for contribution scoring (deleted after the ttl)",
            replicas=replicas,
        )
        self._store: ObjectStore | None = None

    async def _get_store(self) -> ObjectStore:
        if self._store is None:
            self._store = await ensure_object_store(self._nc.jetstream(), self._config)
        return self._store

    async def save(self, job_id: str, server_round: int, participant: str, data: bytes) -> str:
        """Store one update, retried while NATS restarts; return its object name."""
        name = update_object(job_id, server_round, participant)

        async def put() -> None:
            await (await self._get_store()).put(name, data)

        await retry_while_away(put, what=f"update {name}")
        return name

    async def load(self, name: str) -> bytes:
        result = await (await self._get_store()).get(name)
        return result.data or b""
