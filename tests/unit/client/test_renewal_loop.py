"""RenewalLoop: renews once due, retries with backoff, hands the new identity to its callback."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from consortium_client.enrollment import RegistryUnavailableError, RenewalLoop, renew
from consortium_client.identity import Identity, load_identity


def _short_lived(ca, registry, tmp_path: Path, *, lived_s: float, left_s: float) -> Identity:
    now = datetime.now(UTC)
    home = ca.enrolled_home(
        tmp_path / "home",
        "hospital-1",
        not_before=now - timedelta(seconds=lived_s),
        not_after=now + timedelta(seconds=left_s),
        gateway_url=registry.url,
    )
    return load_identity(home)


async def test_renews_when_due_and_calls_back(ca, registry, tmp_path: Path) -> None:
    # 20 s lived, 4 s left: more than 2/3 of the lifetime is over already.
    ident = _short_lived(ca, registry, tmp_path, lived_s=20, left_s=4)
    assert ident.needs_renewal()
    renewed: asyncio.Queue[Identity] = asyncio.Queue()
    loop = RenewalLoop(ident, on_renewed=renewed.put)
    loop.start()
    try:
        new = await asyncio.wait_for(renewed.get(), 10)
    finally:
        await loop.stop()
    assert new.not_after > ident.not_after + timedelta(minutes=30)
    assert loop.identity == new and loop.renewals == 1 and loop.failures == 0
    assert load_identity(tmp_path / "home") == new
    assert registry.paths_requested() == ["POST /api/v1/certificates/renew"]


async def test_waits_until_two_thirds_of_the_lifetime(ca, registry, tmp_path: Path) -> None:
    # 3 s lifetime, just begun: due 2 s from now (certificate times have 1 s resolution).
    ident = _short_lived(ca, registry, tmp_path, lived_s=0, left_s=3)
    due = ident.renewal_due_at()
    renewed: list[tuple[datetime, Identity]] = []
    loop = RenewalLoop(
        ident, on_renewed=lambda new: renewed.append((datetime.now(UTC), new)), max_sleep_s=0.5
    )
    loop.start()
    try:
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds() - 0.3))
        assert renewed == []  # not yet due
        for _ in range(60):
            if renewed:
                break
            await asyncio.sleep(0.1)
    finally:
        await loop.stop()
    [(when, new)] = renewed
    assert when >= due
    assert new.not_after > ident.not_after


async def test_failures_are_retried_with_backoff(ca, registry, tmp_path: Path) -> None:
    ident = _short_lived(ca, registry, tmp_path, lived_s=60, left_s=20)
    attempts: list[float] = []

    def flaky(current: Identity) -> Identity:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise RegistryUnavailableError("gateway not reachable (test)")
        return renew(current)

    done = asyncio.Event()

    async def on_renewed(_new: Identity) -> None:
        done.set()

    loop = RenewalLoop(
        ident, on_renewed=on_renewed, retry_initial_s=0.05, retry_max_s=0.2, renew_fn=flaky
    )
    loop.start()
    try:
        await asyncio.wait_for(done.wait(), 10)
    finally:
        await loop.stop()
    assert len(attempts) == 3 and loop.failures == 2 and loop.renewals == 1


async def test_a_failing_callback_does_not_stop_renewal(ca, registry, tmp_path: Path) -> None:
    ident = _short_lived(ca, registry, tmp_path, lived_s=60, left_s=20)

    def broken(_new: Identity) -> None:
        raise RuntimeError("reconnect failed")

    loop = RenewalLoop(ident, on_renewed=broken)
    loop.start()
    try:
        for _ in range(100):
            if loop.renewals:
                break
            await asyncio.sleep(0.05)
    finally:
        await loop.stop()
    assert loop.renewals == 1


async def test_an_expired_certificate_ends_the_loop(
    ca, registry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ident = _short_lived(ca, registry, tmp_path, lived_s=3, left_s=1)

    def refuse(_current: Identity) -> Identity:
        raise RegistryUnavailableError("down")

    loop = RenewalLoop(ident, renew_fn=refuse, retry_initial_s=0.2, retry_max_s=0.2)
    await asyncio.wait_for(loop.run(), 10)
    assert loop.renewals == 0 and loop.failures >= 1
    assert "enroll" in caplog.text
