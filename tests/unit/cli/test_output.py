"""What people read: aligned tables, key-value listings, and a job's progress live or as lines."""

from __future__ import annotations

import io
import json

import pytest
from consortium_cli.client import JobEvent
from consortium_cli.commands.jobs import render_privacy_report
from consortium_cli.output import (
    MAX_CELL,
    Column,
    JobProgress,
    Output,
    human_bytes,
    human_duration,
    render_fields,
    render_table,
)

ROWS = [
    {"id": "j1", "status": "completed", "rounds": 3, "online": True, "metrics": {"acc": 0.9}},
    {"id": "job-22", "status": "running", "rounds": 120, "online": None, "metrics": {}},
]


def test_table_aligns_columns_and_shows_absent_values_as_a_dash() -> None:
    text = render_table(
        ROWS,
        [
            Column("ID", "id"),
            Column("ROUNDS", "rounds", align=">"),
            Column("ONLINE", "online"),
            Column("STATUS", lambda row: row["status"].upper()),
        ],
    )
    assert text.splitlines() == [
        "ID      ROUNDS  ONLINE  STATUS",
        "j1           3  yes     COMPLETED",
        "job-22     120  -       RUNNING",
    ]


def test_long_cells_are_cut_and_nested_values_are_compact_json() -> None:
    rows = [{"data": {"reason": "x" * 200}, "text": "two\nlines"}]
    text = render_table(rows, [Column("DATA", "data"), Column("TEXT", "text")])
    cell = text.splitlines()[1].split("  ")[0]
    assert len(cell) == MAX_CELL and cell.startswith('{"reason":"xxx') and cell.endswith("…")
    assert text.splitlines()[1].endswith("two lines")


def test_an_empty_table_is_its_header() -> None:
    assert render_table([], [Column("ID", "id"), Column("NAME", "name")]) == "ID  NAME"


def test_fields_align_their_values() -> None:
    assert render_fields([("id", "j1"), ("participants", "a, b")]).splitlines() == [
        "id:            j1",
        "participants:  a, b",
    ]


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (5 * 1024**2, "5.0 MiB"), (None, "-")],
)
def test_human_bytes(count: int | None, text: str) -> None:
    assert human_bytes(count) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.123, "0.12s"), (12.34, "12.3s"), (125, "2m05.0s"), (3725, "1h02m")]
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_json_mode_prints_the_data_and_nothing_else() -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    out = Output(json_mode=True, stdout=stdout, stderr=stderr)
    out.result([{"id": "j1"}], lambda: "a table")
    assert json.loads(stdout.getvalue()) == [{"id": "j1"}]
    Output(json_mode=False, stdout=stdout).result({}, lambda: "a table")
    assert stdout.getvalue().endswith("a table\n")


class Terminal(io.StringIO):
    """A StringIO that says it is a terminal, as stderr is when a person watches."""

    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def _events() -> list[JobEvent]:
    def event(sequence: int, kind: str, **data: object) -> JobEvent:
        return JobEvent(sequence=sequence, type=kind, data={"type": kind, **data})

    round_data = {"duration_s": 1.5, "bytes_sent": 2048, "bytes_received": 4096}
    return [
        event(1, "job_created", task="t", rounds=2, strategy="FedAvg", min_participants=2),
        event(2, "job_started", participants=["a", "b"]),
        event(3, "round_completed", round=0, metrics={"accuracy": 0.5}, **round_data),
        event(
            4,
            "round_completed",
            round=1,
            metrics={"accuracy": 0.8},
            participants=["a", "b"],
            **round_data,
        ),
        event(
            5,
            "round_completed",
            round=2,
            metrics={"accuracy": 0.9},
            participants=["a"],
            failures={"b": "timed out"},
            **round_data,
        ),
        event(6, "job_finished", rounds=2, metrics={"accuracy": 0.9}, duration_s=4.5),
    ]


def test_progress_as_plain_lines_when_stderr_is_not_a_terminal() -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    progress = JobProgress.for_streams(
        job_id="j1", total_rounds=None, stderr=stderr, stdout=stdout, quiet=False
    )
    summaries = [progress.event(e) for e in _events()]
    assert summaries[:-1] == [None] * 5
    assert summaries[-1] == "job j1 completed: 2 rounds in 4.50s, accuracy=0.9"
    assert stderr.getvalue() == ""
    lines = stdout.getvalue().splitlines()
    assert lines[0] == "job j1 created: task t, 2 rounds, FedAvg, waiting for 2 participants"
    assert lines[1] == "job j1 started with 2 participants: a, b"
    assert lines[2] == "round 0/2 (initial evaluation): accuracy=0.5, 1.50s"
    assert lines[3] == (
        "round 1/2: accuracy=0.8, 1.50s, sent 2.0 KiB, received 4.0 KiB, 2 participants"
    )
    assert lines[4].endswith("1 participants, failures: b (timed out)")


def test_progress_as_a_live_bar_on_a_terminal() -> None:
    stdout, stderr = io.StringIO(), Terminal()
    progress = JobProgress.for_streams(
        job_id="j1", total_rounds=2, stderr=stderr, stdout=stdout, quiet=False
    )
    events = _events()
    for event in events[:4]:
        progress.event(event)
    drawn = stderr.getvalue()
    assert stdout.getvalue() == ""
    assert "job j1 started with 2 participants" in drawn
    current = drawn.rsplit("\r\x1b[K", 1)[-1]
    assert current.startswith("[" + "█" * 10 + "░" * 10 + "] round 1/2  accuracy=0.8")
    assert "↑2.0 KiB ↓4.0 KiB" in current and "\n" not in current
    progress.event(events[4])
    assert stderr.getvalue().rsplit("\r\x1b[K", 1)[-1].startswith("[" + "█" * 20 + "] round 2/2")
    assert "1 failed" in stderr.getvalue().rsplit("\r\x1b[K", 1)[-1]
    summary = progress.event(events[5])
    assert stderr.getvalue().endswith("\n")
    assert summary is not None and summary.startswith("job j1 completed")


def test_quiet_progress_leaves_stdout_to_json() -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    progress = JobProgress.for_streams(
        job_id="j1", total_rounds=2, stderr=stderr, stdout=stdout, quiet=True
    )
    for event in _events():
        progress.event(event)
    assert stdout.getvalue() == stderr.getvalue() == ""


@pytest.mark.parametrize(
    ("kind", "data", "summary"),
    [
        ("job_failed", {"reason": "participant a left"}, "job j1 failed: participant a left"),
        ("job_stopped", {"reason": "stopped by operator"}, "job j1 stopped: stopped by operator"),
        ("job_stopped", {}, "job j1 stopped"),
    ],
)
def test_how_a_job_that_did_not_complete_is_summed_up(
    kind: str, data: dict[str, object], summary: str
) -> None:
    progress = JobProgress(job_id="j1", total_rounds=2)
    assert progress.event(JobEvent(sequence=1, type=kind, data=data)) == summary


def test_a_privacy_report_reads_as_fields_then_one_row_per_participant() -> None:
    report = {
        "job_id": "j1",
        "status": "completed",
        "dp": True,
        "mechanism": "DP-SGD",
        "accountant": "prv",
        "delta": 1e-5,
        "epsilon_max": 3.2109,
        "secure_aggregation": False,
        "aggregation": "he-ckks",
        "server_saw": "only CKKS ciphertexts",
        "budget": {"epsilon": 8.0, "delta": 1e-5, "accountant": "prv", "stopped_early": False},
        "participants": {
            "h1": {"epsilon": 3.2109, "delta": 1e-5, "noise_multiplier": 1.1,
                   "sample_rate": 0.05, "steps": 40, "rounds": 2},
        },
        "refusals": [{"round": 2, "participant": "h2", "reason": "over its limit"}],
    }  # fmt: skip
    text = render_privacy_report(report)
    assert "epsilon (max):         3.211" in text
    assert "budget:                epsilon 8.0 at delta 1e-05 (prv)" in text
    assert "the coordinator saw:   only CKKS ciphertexts" in text
    lines = [line.split() for line in text.splitlines()]
    header = ["PARTICIPANT", "EPSILON", "DELTA", "NOISE", "SAMPLE", "RATE", "STEPS", "ROUNDS"]
    assert lines[lines.index(header) + 1] == ["h1", "3.211", "1e-05", "1.1", "0.05", "40", "2"]
    assert lines[-1] == ["2", "h2", "over", "its", "limit"]
