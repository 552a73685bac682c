"""Tests of ``python -m consortium_bench`` (registry, CLI) and of the model-transfer app.

The fast tests drive ``consortium_bench.apps.transfer``'s ServerApp against an in-process
``Grid`` that carries every message through Consortium's wire format (encode, decode, ClientApp,
encode, decode, the coordinator's update check), as the NATS runtime does, minus the sockets.
The tests marked ``slow`` start real processes (nats-server, Postgres, coordinator, client).
"""

from __future__ import annotations

import socket
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest
from consortium_bench import cli
from consortium_bench.apps.transfer import (
    RESNET18_NUM_PARAMS,
    build_model_record,
    client_app,
    record_nbytes,
    resnet18_shapes,
    server_app,
)
from consortium_bench.runtime import model_transfer_rates, nats_server_info
from consortium_bench.timing import read_round_times, round_durations
from consortium_core.validation import check_update
from consortium_core.wire import decode_frame, encode_frame
from flwr.app import Context, Error, Message, RecordDict
from flwr.proto.node_pb2 import NodeInfo
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

SERVER_NODE_ID = 0
RUN_ID = 4343
NODE = 1234


# --------------------------------------------------------------------------------------------
# CLI and registry
# --------------------------------------------------------------------------------------------


def test_unknown_benchmark_lists_the_known_ones() -> None:
    with pytest.raises(cli.UnknownBenchmarkError, match=r"unknown benchmark 'nope'.*runtime"):
        cli.select("nope")


def test_cli_refuses_an_unknown_benchmark(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--bench", "nope", "--out", str(tmp_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown benchmark 'nope'" in err and "all" in err and "runtime" in err
    assert not (tmp_path / "nope.json").exists()


def test_all_selects_every_registered_benchmark() -> None:
    assert [b.name for b in cli.select("all")] == list(cli.BENCHMARKS)
    assert "runtime" in cli.BENCHMARKS
    assert [b.name for b in cli.select("runtime")] == ["runtime"]


def test_registered_benchmarks_resolve() -> None:
    for bench in cli.BENCHMARKS.values():
        run, table = bench.load()
        assert callable(run) and callable(table)


def test_cli_writes_the_report_and_prints_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = f"fake_bench_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        "def run(out):\n"
        "    return {'value': 42, 'out': str(out)}\n"
        "def table(report):\n"
        "    return f\"value {report['value']}\"\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    fake = cli.Benchmark("fake", "a fake", f"{module}:run", f"{module}:table")
    out = tmp_path / "out"
    assert cli.main(["--bench", "fake", "--out", str(out)], registry={"fake": fake}) == 0
    report = (out / "fake.json").read_text(encoding="utf-8")
    assert '"value": 42' in report and '"wall_s"' in report
    assert "value 42" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# The transfer model and the report's arithmetic
# --------------------------------------------------------------------------------------------


def test_resnet18_shapes_match_torchvision() -> None:
    shapes = resnet18_shapes()
    assert len(shapes) == 62
    assert sum(int(np.prod(s)) for _, s in shapes) == RESNET18_NUM_PARAMS
    names = [n for n, _ in shapes]
    assert names[:3] == ["conv1.weight", "bn1.weight", "bn1.bias"]
    assert "layer2.0.downsample.0.weight" in names and "layer2.0.downsample.1.bias" in names
    assert names[-2:] == ["fc.weight", "fc.bias"]
    assert len(set(names)) == len(names)


def test_small_model_record() -> None:
    record = build_model_record(scale=0.05, seed=3)
    assert len(record) == 62
    assert all(a.dtype == "float32" for a in record.values())
    assert record_nbytes(record) == 4 * sum(int(np.prod(a.shape)) for a in record.values())


def test_model_transfer_rates() -> None:
    rates = model_transfer_rates(50_000_000, [9.0, 0.25, 0.5, 0.75])
    assert rates["model_mb"] == 50.0
    assert rates["model_transfer_round_trip_s"] == 0.5  # median of trips 2..K
    assert rates["model_transfer_mb_s"] == 200.0
    assert rates["model_transfer_one_way_equivalent_mb_s"] == 100.0


def test_nats_server_info_reads_the_info_line() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]

        def serve() -> None:
            conn, _ = srv.accept()
            with conn:
                conn.sendall(b'INFO {"version":"2.99.0","max_payload":1048576}\r\n')

        thread = threading.Thread(target=serve)
        thread.start()
        info = nats_server_info(port)
        thread.join(5)
    assert info == {"version": "2.99.0", "max_payload": 1048576}


# --------------------------------------------------------------------------------------------
# The transfer app, driven in-process over Consortium's wire format
# --------------------------------------------------------------------------------------------


class _WireGrid(Grid):
    """One node; each message goes through encode/decode both ways, as on the NATS runtime."""

    def __init__(self, run_config: dict[str, int | float | str | bool], *, fail: bool = False):
        self._run = Run.create_empty(RUN_ID)
        self._context = Context(
            run_id=RUN_ID,
            node_id=NODE,
            node_config={"partition-id": 0, "num-partitions": 1},
            state=RecordDict(),
            run_config=dict(run_config),
        )
        self._fail = fail
        self._replies: dict[str, Message] = {}
        self.bytes_sent = 0
        self.echoes_equal: list[bool] = []

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return [NODE]

    def get_nodes(self) -> Iterable[NodeInfo]:
        return [NodeInfo(node_id=NODE)]

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for msg in messages:
            msg_id = uuid.uuid4().hex
            msg.metadata.__dict__["_message_id"] = msg_id
            msg.metadata.__dict__["_run_id"] = RUN_ID
            if self._fail:
                reply = Message(Error(code=0, reason="deliberate"), reply_to=msg)
            else:
                out = encode_frame(msg, {"job_id": "j"})
                self.bytes_sent += sum(len(b) for b in out)
                received, _ = decode_frame(out)
                answer = client_app(received, self._context)
                reply, _ = decode_frame(encode_frame(answer, {"job_id": "j"}))
                check_update(sent=msg.content["arrays"], received=reply.content["arrays"])
                self.echoes_equal.append(
                    all(
                        reply.content["arrays"][k].data == a.data
                        for k, a in msg.content["arrays"].items()
                    )
                )
            assert reply.metadata.reply_to_message_id == msg_id
            self._replies[msg_id] = reply
            ids.append(msg_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(i) for i in list(message_ids) if i in self._replies]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))


@pytest.fixture
def task_identity() -> Iterator[None]:
    """Set the ServerApp process identity that ``Message(...)`` reads, and restore it."""
    saved = (TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id)
    TaskIdentity.task_id = 1
    TaskIdentity.run_id = RUN_ID
    TaskIdentity.node_id = SERVER_NODE_ID
    yield
    TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = saved


def _server_context(run_config: dict[str, int | float | str | bool]) -> Context:
    return Context(
        run_id=RUN_ID,
        node_id=SERVER_NODE_ID,
        node_config={},
        state=RecordDict(),
        run_config=run_config,
    )


def test_transfer_app_times_each_round_trip(tmp_path: Path, task_identity: None) -> None:
    timing_file = tmp_path / "transfer.jsonl"
    run_config: dict[str, int | float | str | bool] = {
        "num-server-rounds": 3,
        "timing-file": str(timing_file),
        "model-scale": 0.05,
        "seed": 1,
    }
    grid = _WireGrid(run_config)
    server_app(grid, _server_context(run_config))

    durations = round_durations(read_round_times(timing_file))
    assert len(durations) == 3 and all(d >= 0 for d in durations)
    assert grid.echoes_equal == [True, True, True]
    assert grid.bytes_sent >= 3 * record_nbytes(build_model_record(scale=0.05))


def test_transfer_client_app_echoes_the_arrays(task_identity: None) -> None:
    record = build_model_record(scale=0.05, seed=2)
    msg = Message(content=RecordDict({"arrays": record}), dst_node_id=NODE, message_type="train")
    msg.metadata.__dict__["_message_id"] = "m1"
    context = Context(
        run_id=RUN_ID, node_id=NODE, node_config={}, state=RecordDict(), run_config={}
    )
    reply = client_app(msg, context)
    assert not reply.has_error()
    assert reply.metadata.reply_to_message_id == "m1"
    echoed = reply.content["arrays"]
    assert list(echoed) == list(record)
    assert all(echoed[k].data == a.data for k, a in record.items())
    assert reply.content["metrics"]["num-examples"] == 1


def test_transfer_server_app_fails_on_an_error_reply(tmp_path: Path, task_identity: None) -> None:
    run_config: dict[str, int | float | str | bool] = {
        "num-server-rounds": 2,
        "model-scale": 0.05,
    }
    with pytest.raises(RuntimeError, match="deliberate"):
        server_app(_WireGrid(run_config, fail=True), _server_context(run_config))


# --------------------------------------------------------------------------------------------
# Real processes
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.skipif(
    not Path(sys.executable).with_name("consortium-coordinator").exists(),
    reason="consortium-coordinator is not installed next to this interpreter",
)
def test_consortium_stack_runs_the_transfer_app(tmp_path: Path) -> None:
    from consortium_bench.runtime import TRANSFER, ConsortiumStack

    with ConsortiumStack(tmp_path / "stack") as stack:
        assert stack.nats_info.get("max_payload", 0) > 0
        ids = stack.start_clients("t-transfer", 1, f"{TRANSFER}:client_app")
        stack.wait_online(ids, f"{TRANSFER}:client_app", timeout_s=120)
        durations = stack.run_job(
            task=f"{TRANSFER}:server_app",
            client_task=f"{TRANSFER}:client_app",
            rounds=2,
            min_participants=1,
            config={"model-scale": 0.1},
            timing_file=tmp_path / "t.jsonl",
            timeout_s=120,
        )
        procs = [p.popen for p in [*stack._server_procs, *stack._clients.values()]]
    assert len(durations) == 2 and all(d > 0 for d in durations)
    assert len(procs) == 3 and all(p.poll() is not None for p in procs)  # all stopped
