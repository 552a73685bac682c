"""An open-loop HTTP/1.1 load generator: requests leave on a fixed schedule, not when the
previous one returned, and each latency counts from its *scheduled* time. A closed loop (wrk,
most Python clients) sends less when the server slows down and so hides its worst latencies
(coordinated omission); this one does not.

It is a few asyncio streams over keep-alive connections (TLS where the URL says https), with
the response framing read by hand (status line, ``Content-Length``), so that the generator costs
far less CPU than the server it measures on the same machine.

>>> percentile([1.0, 2.0, 3.0, 4.0], 50)
2.5
"""

from __future__ import annotations

import asyncio
import ssl
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["LoadResult", "percentile", "run_open_loop"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile with linear interpolation (``q`` in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class LoadResult:
    """Latencies (ms, from the scheduled send time) and what went wrong."""

    rate: float
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    late_starts: int = 0

    def summary(self) -> dict[str, float | int | dict[int, int]]:
        lat = self.latencies_ms
        return {
            "target_rps": self.rate,
            "requests": len(lat),
            "achieved_rps": round(len(lat) / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(percentile(lat, 50), 2),
            "p90_ms": round(percentile(lat, 90), 2),
            "p99_ms": round(percentile(lat, 99), 2),
            "max_ms": round(max(lat), 2) if lat else float("nan"),
            "mean_ms": round(statistics.fmean(lat), 2) if lat else float("nan"),
            "statuses": dict(sorted(self.statuses.items())),
            "errors": self.errors,
        }


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return status


async def run_open_loop(
    url: str,
    paths: Callable[[int], str],
    *,
    rate: float,
    seconds: float,
    headers: dict[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    connections: int = 64,
    warmup_s: float = 2.0,
) -> LoadResult:
    """Send ``rate`` GET requests per second for ``seconds`` (after ``warmup_s`` not counted);
    request ``i`` goes to ``paths(i)``."""
    parts = urlsplit(url)
    host, port = (
        parts.hostname or "127.0.0.1",
        parts.port or (443 if parts.scheme == "https" else 80),
    )
    tls = ssl_context if parts.scheme == "https" else None
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    pool: asyncio.Queue[_Connection] = asyncio.Queue()
    opened = []
    for _ in range(connections):
        reader, writer = await asyncio.open_connection(host, port, ssl=tls, limit=2**22)
        conn = _Connection(reader, writer)
        opened.append(conn)
        pool.put_nowait(conn)
    result = LoadResult(rate=rate, seconds=seconds)
    interval = 1.0 / rate
    total = int((seconds + warmup_s) * rate)
    warmup = int(warmup_s * rate)
    tasks = []

    async def one(i: int, scheduled: float) -> None:
        conn = await pool.get()
        raw = f"GET {paths(i)} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode()
        try:
            status = await conn.request(raw)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.errors += 1
            reader, writer = await asyncio.open_connection(host, port, ssl=tls, limit=2**22)
            conn = _Connection(reader, writer)
            opened.append(conn)
            pool.put_nowait(conn)
            return
        pool.put_nowait(conn)
        if i >= warmup:
            result.latencies_ms.append((time.perf_counter() - scheduled) * 1000)
            result.statuses[status] = result.statuses.get(status, 0) + 1

    start = time.perf_counter() + 0.05
    for i in range(total):
        scheduled = start + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.01:
            result.late_starts += 1
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    for conn in opened:
        conn.writer.close()
    return result
