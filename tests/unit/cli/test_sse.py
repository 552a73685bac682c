"""Server-sent events: parsing by the HTML standard's rules, and following a job's stream.

The streams come from a small ``http.server`` in a thread standing in for the gateway's
``/api/v1/jobs/{id}/events`` (the real gateway needs NATS and the services; the integration test
runs it). It can end a stream early, cut it mid-chunk, or answer with a problem, so the
client's resume with ``Last-Event-ID`` is tested over real sockets.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from consortium_cli.client import GatewayClient, JobEvent, ServerSentEvent, parse_sse
from consortium_cli.errors import GatewayProblem, GatewayUnreachable, SessionExpired


def test_fields_comments_and_multiline_data() -> None:
    lines = [
        ": a comment",
        "event: round_completed",
        "data: {",
        'data:  "round": 1}',
        "id: 12",
        "retry: 3000",
        "unknown: ignored",
        "",
    ]
    [event] = parse_sse(lines)
    assert event == ServerSentEvent(
        event="round_completed", data='{\n "round": 1}', id="12", retry=3000
    )


def test_id_persists_and_events_without_data_are_not_dispatched() -> None:
    lines = ["id: 4", "", "event: x", "data: 1", "", "data: 2", "", "id", "data: 3", ""]
    events = list(parse_sse(lines))
    assert [(e.event, e.data, e.id) for e in events] == [
        ("x", "1", "4"),
        ("message", "2", "4"),
        ("message", "3", None),
    ]


def test_crlf_line_ends_and_an_unterminated_event_is_dropped() -> None:
    lines = ["data: done\r\n", "\r\n", "data: half"]
    assert [e.data for e in parse_sse(lines)] == ["done"]


def test_a_field_with_no_space_after_the_colon_keeps_the_value_whole() -> None:
    [event] = parse_sse(["data:  two spaces", ""])
    assert event.data == " two spaces"


def test_job_event_reads_sequence_type_and_body() -> None:
    sse = ServerSentEvent(
        event="job_finished", data='{"type": "job_finished", "rounds": 2}', id="9"
    )
    event = JobEvent.from_sse(sse)
    assert (event.sequence, event.type, event.final) == (9, "job_finished", True)
    assert event.data["rounds"] == 2


# -- a stand-in gateway ------------------------------------------------------------------------


def _event(sequence: int, kind: str, **body: object) -> bytes:
    data = json.dumps({"type": kind, "job_id": "j1", **body})
    return f"event: {kind}\ndata: {data}\nid: {sequence}\n\n".encode()


EVENTS = [
    _event(1, "job_created", rounds=2, task="t", strategy="FedAvg"),
    _event(2, "job_started", participants=["a", "b"]),
    _event(3, "round_completed", round=1, metrics={"accuracy": 0.5}, duration_s=0.1),
    _event(4, "round_completed", round=2, metrics={"accuracy": 0.9}, duration_s=0.1),
    _event(5, "job_finished", rounds=2, metrics={"accuracy": 0.9}, duration_s=0.3),
]


@dataclass
class Script:
    """How each successive connection behaves: 'end' after N events, 'cut' mid-chunk, 'all'."""

    plan: list[tuple[str, int]]
    seen_last_ids: list[str | None] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script: Script

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path != "/api/v1/jobs/j1/events":
            body = json.dumps({"title": "Not Found", "status": 404, "detail": "no job x"})
            self.send_response(404)
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())
            return
        if self.headers.get("Authorization") != "Bearer good":
            body = json.dumps({"title": "Unauthorized", "status": 401, "detail": "token expired"})
            self.send_response(401)
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())
            return
        last = self.headers.get("Last-Event-ID")
        self.script.seen_last_ids.append(last)
        mode, count = self.script.plan.pop(0)
        pending = [e for i, e in enumerate(EVENTS, start=1) if i > int(last or 0)]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chosen = pending if mode == "all" else pending[:count]
        for event in chosen:
            self._chunk(event)
            self._chunk(b": ping\n\n")
        if mode == "cut":
            self.wfile.write(b"40\r\nevent: round_compl")  # a chunk that never completes
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


class _QuietServer(ThreadingHTTPServer):
    """A client that leaves after the final event breaks the pipe; that is expected here."""

    def handle_error(self, request: object, client_address: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[tuple[str, Script]]:
    script = Script(plan=[])
    handler = type("Handler", (_Handler,), {"script": script})
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", script
    server.shutdown()
    server.server_close()


def _follow(url: str, token: str = "good", **options: object) -> list[JobEvent]:
    with GatewayClient(url, token=token) as client:
        return list(client.job_events("j1", backoff_s=0, **options))  # type: ignore[arg-type]


def test_a_whole_stream_ends_at_the_final_event(gateway: tuple[str, Script]) -> None:
    url, script = gateway
    script.plan = [("all", 0)]
    events = _follow(url)
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5]
    assert events[-1].type == "job_finished"
    assert script.seen_last_ids == [None]


def test_a_stream_that_ends_early_resumes_after_the_last_event(
    gateway: tuple[str, Script],
) -> None:
    url, script = gateway
    script.plan = [("end", 2), ("end", 0), ("all", 0)]
    events = _follow(url)
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5]
    assert script.seen_last_ids == [None, "2", "2"]


def test_a_connection_cut_mid_event_resumes_without_gaps_or_repeats(
    gateway: tuple[str, Script],
) -> None:
    url, script = gateway
    script.plan = [("cut", 3), ("all", 0)]
    events = _follow(url)
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5]
    assert script.seen_last_ids == [None, "3"]


def test_resuming_from_a_given_event(gateway: tuple[str, Script]) -> None:
    url, script = gateway
    script.plan = [("all", 0)]
    with GatewayClient(url, token="good") as client:
        events = list(client.job_events("j1", after=3))
    assert [e.sequence for e in events] == [4, 5]
    assert script.seen_last_ids == ["3"]


def test_too_many_broken_streams_give_up_with_a_clear_error(
    gateway: tuple[str, Script],
) -> None:
    url, script = gateway
    script.plan = [("cut", 1), ("cut", 0), ("cut", 0)]
    with pytest.raises(GatewayUnreachable) as caught:
        _follow(url, reconnects=2)
    assert caught.value.exit_code == 3
    assert script.seen_last_ids == [None, "1", "1"]


def test_problems_and_refused_tokens_are_typed_errors(gateway: tuple[str, Script]) -> None:
    url, _ = gateway
    with GatewayClient(url, token="good") as client, pytest.raises(GatewayProblem) as problem:
        list(client.job_events("unknown"))
    assert (problem.value.status, str(problem.value)) == (404, "Not Found: no job x")
    with pytest.raises(SessionExpired, match="token expired; log in again"):
        _follow(url, token="stale")


def test_a_gateway_that_is_not_there_is_unreachable_at_once() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(GatewayUnreachable, match=r"connection refused.*make up"):
        _follow(f"http://127.0.0.1:{port}")
