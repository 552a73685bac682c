"""The faults the chaos soak injects: SIGKILL of a service, of NATS or of a participant, and a
crash of Postgres (``pg_ctl stop -m immediate``: no shutdown checkpoint, recovery at start).

A killed service or NATS is started again after a short pause, as a supervisor (Kubernetes,
systemd) would, and the injector waits until it is healthy; a killed participant comes back
later in the background, so that participant faults overlap the others.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..platform import Platform
from ..postgres import PrivatePostgres

__all__ = ["FAULTS", "SERVICES", "FaultInjector", "InjectedFault"]

SERVICES = ("coordinator", "registry", "metrics", "contribution", "gateway")
FAULTS = (*SERVICES, "nats", "postgres", "participant")
RESTART_WITHIN_S = 120.0


@dataclass
class InjectedFault:
    """One fault, for the report."""

    kind: str
    target: str
    at_s: float
    round: int | None
    down_s: float
    recovered_after_s: float | None = None


class FaultInjector:
    """Injects faults into one platform, its Postgres and its participants."""

    def __init__(
        self,
        platform: Platform,
        postgres: PrivatePostgres,
        participants: list[str],
        restart_participants: Callable[[], None],
        rng: random.Random,
    ) -> None:
        self.platform = platform
        self.postgres = postgres
        self.participants = participants
        self._restart_participants = restart_participants
        self.rng = rng
        self.started = time.monotonic()
        self.injected: list[InjectedFault] = []
        self._participants_back_at: dict[str, float] = {}

    def inject(self, kind: str, *, round_now: int | None) -> InjectedFault:
        """Inject one fault of ``kind`` (see :data:`FAULTS`); returns once what was killed is
        healthy again (a participant: once it is killed; it comes back later)."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")
        at = time.monotonic()
        if kind == "participant":
            fault = self._kill_participant(at, round_now)
        elif kind == "postgres":
            down = self.rng.uniform(2.0, 8.0)
            fault = InjectedFault("postgres crash", "postgres", at - self.started, round_now, down)
            self.postgres.stop("immediate")
            time.sleep(down)
            if not self.postgres.start(timeout_s=RESTART_WITHIN_S):
                raise RuntimeError("Postgres did not start again; see its server.log")
        else:
            down = self.rng.uniform(0.5, 4.0)
            fault = InjectedFault("kill -9", kind, at - self.started, round_now, down)
            self._kill(kind)
            time.sleep(down)
            self._start_again(kind)
        if kind != "participant":
            fault.recovered_after_s = time.monotonic() - at
        self.injected.append(fault)
        return fault

    def tick(self) -> None:
        """Start the participants whose time to come back has come."""
        now = time.monotonic()
        due = [name for name, back_at in self._participants_back_at.items() if back_at <= now]
        if due:
            for name in due:
                del self._participants_back_at[name]
            self._restart_participants()

    def bring_everyone_back(self) -> None:
        """Start every participant still away (at the end of the faults)."""
        if self._participants_back_at:
            self._participants_back_at.clear()
            self._restart_participants()

    def _kill_participant(self, at: float, round_now: int | None) -> InjectedFault:
        up = [n for n in self.participants if n not in self._participants_back_at]
        name = self.rng.choice(up)
        down = self.rng.uniform(3.0, 25.0)
        self._kill(name)
        self._participants_back_at[name] = at + down
        return InjectedFault("kill -9", name, at - self.started, round_now, down)

    def _kill(self, name: str) -> None:
        pid = self.platform.running_pid(name)
        if pid is None:
            raise RuntimeError(f"{name} is not running: nothing to kill")
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)  # our child: reap it, or it lingers as a zombie that looks alive
        except ChildProcessError:
            deadline = time.monotonic() + 10
            while self.platform.running_pid(name) is not None and time.monotonic() < deadline:
                time.sleep(0.05)

    def _start_again(self, name: str) -> None:
        """Start ``name`` until it is healthy (it may exit while a dependency is restarting)."""
        deadline = time.monotonic() + RESTART_WITHIN_S
        while True:
            try:
                self.platform.start(name)
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2.0)
