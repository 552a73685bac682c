"""Presence: online from heartbeats, offline after silence or a goodbye."""

from __future__ import annotations

from consortium_core.contracts.presence import Heartbeat, node_id_for
from consortium_core.presence import Presence


def _beat(pid: str, *, online: bool = True, tasks: tuple[str, ...] = ("digits-cnn",)) -> Heartbeat:
    return Heartbeat(
        participant_id=pid, node_id=node_id_for(pid), tasks=list(tasks), online=online, sent_at=0.0
    )


def test_online_until_silent_for_the_timeout() -> None:
    presence = Presence(timeout_s=5)
    assert presence.observe(_beat("a"), now=0.0) is True
    assert presence.observe(_beat("a"), now=1.0) is False
    assert [e.participant_id for e in presence.online()] == ["a"]
    assert presence.expire(now=5.9) == []
    assert presence.expire(now=6.1) == ["a"]
    assert presence.online() == [] and presence.all()[0].online is False
    assert presence.observe(_beat("a"), now=7.0) is True


def test_goodbye_and_task_filter() -> None:
    presence = Presence(timeout_s=5)
    presence.observe(_beat("a"), now=0.0)
    presence.observe(_beat("b", tasks=("breast-cancer-logreg",)), now=0.0)
    assert [e.participant_id for e in presence.online(task="digits-cnn")] == ["a"]
    assert presence.observe(_beat("a", online=False), now=1.0) is True
    assert presence.online(task="digits-cnn") == []
    entry = presence.participant_of(node_id_for("b"))
    assert entry is not None and entry.participant_id == "b"
    assert presence.participant_of(12345) is None
