"""The demo's simulated hospitals: enrolled as a real one joins, each a separate client process.

Used by the demo and by the console's browser test, which runs the same hospitals against a
platform of its own.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from .enrollment import OperatorSession, enroll_hospital
from .platform import Platform

__all__ = ["HospitalsError", "start_hospitals", "wait_online"]


class HospitalsError(RuntimeError):
    """The hospitals could not be started or did not come online; the text says why."""


def start_hospitals(
    platform: Platform,
    endpoints: dict[str, Any],
    operator: OperatorSession,
    *,
    task: str,
    count: int,
    partition: str,
    seed: int,
    kind: str = "hospital",
    node_options: Mapping[int, str] | None = None,
    names: Sequence[str] | None = None,
) -> list[str]:
    """Enroll (once) and start each hospital's client runtime with its own certificate.

    ``kind`` names them (``hospital-1``, ...; the devices demo starts ``device-1``, ...);
    ``node_options`` adds node config to some of them by index (``straggler-delay-s=2``);
    ``names`` replaces the numbered names (the fraud demo's ``bank`` and ``shop``).
    A participant left running by an earlier demo is kept if it runs ``task`` with the same
    node config, else restarted.
    """
    ca_cert = platform.root / str(endpoints["ca_cert"])
    registry_url = str(endpoints["registry_url"])
    chosen = list(names) if names is not None else [f"{kind}-{i + 1}" for i in range(count)]
    for i, name in enumerate(chosen):
        node_config = f"partition-id={i} num-partitions={count} partition='{partition}' seed={seed}"
        node_config += f" {(node_options or {}).get(i, '')}".rstrip()
        task_file = platform.run_dir / f"{name}.task"
        started_as = f"{task}\n{node_config}"
        if platform.running_pid(name) is not None:
            if task_file.exists() and task_file.read_text() == started_as:
                continue
            platform.stop(name)
        home = platform.var / "demo" / {"party": "parties"}.get(kind, f"{kind}s") / name
        if not (home / "cert.pem").exists():
            title = f"{kind.capitalize()} {i + 1}" if names is None else name.capitalize()
            token = operator.token_for(name, name=title, organisation=name)
            enroll_hospital(
                platform.bin / "consortium-client",
                home=home,
                token=token,
                registry_url=registry_url,
                ca_cert=ca_cert,
            )
            print(f"  {name} enrolled: key in {home.relative_to(platform.root)}", flush=True)
        log = (platform.log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [
                str(platform.bin / "consortium-client"),
                "run",
                "--home",
                str(home),
                "--nats",
                str(endpoints["nats_url"]),
                "--task",
                task,
                "--node-config",
                node_config,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
        )
        platform.record_pid(name, proc.pid)
        task_file.write_text(started_as)
    return chosen


def wait_online(api: httpx.Client, names: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    online: set[str] = set()
    while time.monotonic() < deadline:
        online = {p["participant_id"] for p in api.get("/participants").json() if p["online"]}
        if set(names) <= online:
            return
        time.sleep(0.5)
    missing = sorted(set(names) - online)
    raise HospitalsError(
        f"hospitals not online after {timeout_s:.0f} s: {', '.join(missing)}; "
        "see var/log/hospital-*.log"
    )
