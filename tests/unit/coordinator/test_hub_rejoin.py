"""The hub tells the Grids when a participant is back within reach after frames may have been
lost: a heartbeat after a long silence, or the first after the coordinator's own reconnection.
And it takes nobody offline for a silence that was the coordinator's own (NATS away)."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from consortium_coordinator.runtime import hub as hub_module
from consortium_coordinator.runtime.hub import REJOIN_GAP_S, NatsHub
from consortium_core.contracts.presence import Heartbeat, node_id_for
from consortium_core.presence import Presence


class Sink:
    def __init__(self) -> None:
        self.back: list[str] = []
        self.gone: list[str] = []

    def deliver(self, participant_id, frame) -> None:  # pragma: no cover - not used here
        raise AssertionError("no frames in this test")

    def participant_offline(self, participant_id: str) -> None:
        self.gone.append(participant_id)

    def participant_back(self, participant_id: str) -> None:
        self.back.append(participant_id)


def _beat(hub: NatsHub, participant: str) -> None:
    beat = Heartbeat(
        participant_id=participant,
        node_id=node_id_for(participant),
        tasks=["t"],
        online=True,
        busy=False,
        sent_at=time.time(),
    )
    msg = SimpleNamespace(
        subject=f"consortium.v1.participant.{participant}.out.heartbeat",
        data=beat.model_dump_json().encode(),
    )
    asyncio.run(hub._on_heartbeat(msg))


def test_back_after_a_silence_or_after_the_coordinators_reconnection(monkeypatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(hub_module.time, "monotonic", lambda: clock[0])
    nc = SimpleNamespace(stats={"reconnects": 0})
    hub = NatsHub(nc, Presence(timeout_s=5.0))
    sink = Sink()
    hub.register("job", sink)

    _beat(hub, "p1")  # first sight: nothing was sent to it yet
    clock[0] += 1.0
    _beat(hub, "p1")  # a regular beat
    assert sink.back == []

    clock[0] += REJOIN_GAP_S + 0.5  # silent for longer than the gap: it was away
    _beat(hub, "p1")
    assert sink.back == ["p1"]

    _beat(hub, "p2")
    clock[0] += 1.0
    nc.stats["reconnects"] = 1  # the coordinator reconnected since p2's last beat
    _beat(hub, "p2")
    assert sink.back == ["p1", "p2"]
    clock[0] += 1.0
    _beat(hub, "p2")  # only once per reconnection
    assert sink.back == ["p1", "p2"]


def test_nobody_goes_offline_for_the_coordinators_own_outage(monkeypatch) -> None:
    """Found by make chaos: NATS was away 4 s, and the sweeper took five participants of a
    round offline (5 s without a heartbeat) before they could reconnect; the job failed."""
    clock = [1000.0]
    monkeypatch.setattr(hub_module.time, "monotonic", lambda: clock[0])
    nc = SimpleNamespace(stats={"reconnects": 0}, is_connected=True)
    hub = NatsHub(nc, Presence(timeout_s=5.0))
    sink = Sink()
    hub.register("job", sink)
    _beat(hub, "p1")
    _beat(hub, "p2")

    clock[0] += 1.0
    nc.is_connected = False  # NATS goes away for 8 s: nothing is heard, nobody is to blame
    for _ in range(16):
        clock[0] += 0.5
        hub.sweep(clock[0])
    nc.is_connected, nc.stats["reconnects"] = True, 1
    clock[0] += 0.5
    hub.sweep(clock[0])  # the sweeper notices the reconnection: the timeout starts again
    assert sink.gone == []

    clock[0] += 3.0
    _beat(hub, "p1")  # p1 reconnected 3 s after the coordinator; p2 never does
    clock[0] += 2.5
    hub.sweep(clock[0])
    assert sink.gone == ["p2"]  # 5.5 s after the reconnection
    assert sink.back == ["p1"]
    clock[0] += 10
    hub.sweep(clock[0])  # and a participant still silent is offline as before
    assert sink.gone == ["p2", "p1"]
