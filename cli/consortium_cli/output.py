"""What the CLI prints: JSON for scripts, aligned tables and a live job progress for people.

>>> print(render_table([{"id": "j1", "n": 3}, {"id": "job-22", "n": 12}],
...                    [Column("ID", "id"), Column("ROUNDS", "n", align=">")]))
ID      ROUNDS
j1           3
job-22      12
>>> human_bytes(1536), human_duration(75.5), format_metrics({"accuracy": 0.91234, "loss": 2})
('1.5 KiB', '1m15.5s', 'accuracy=0.9123 loss=2')
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from .client import JobEvent
from .session import parse_time

__all__ = [
    "Column",
    "JobProgress",
    "Output",
    "format_metrics",
    "human_bytes",
    "human_duration",
    "human_time",
    "render_fields",
    "render_table",
]

MAX_CELL = 60
ELLIPSIS = "…"


def human_bytes(count: float | None) -> str:
    """Bytes in binary units: ``'512 B'``, ``'1.5 KiB'``, ``'3.2 MiB'``."""
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: float | None) -> str:
    """``'0.42s'``, ``'12.3s'``, ``'2m05.0s'``, ``'1h02m'``."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}m{rest:04.1f}s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)}h{int(minutes):02d}m"


def human_time(value: str | None) -> str:
    """An API timestamp as ``YYYY-MM-DD HH:MM:SS`` UTC; ``-`` when absent.

    >>> human_time("2025-03-01T09:15:02.123456Z")
    '2025-03-01 09:15:02'
    """
    if not value:
        return "-"
    parsed = parse_time(value)
    return parsed.strftime("%Y-%m-%d %H:%M:%S") if parsed else value


def format_metrics(metrics: Mapping[str, Any] | None, *, limit: int = 4) -> str:
    """Up to ``limit`` metrics as ``name=value`` with 4 significant digits."""
    if not metrics:
        return "-"
    items = []
    for name, value in list(metrics.items())[:limit]:
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        items.append(f"{name}={shown}")
    more = len(metrics) - limit
    return " ".join(items) + (f" (+{more})" if more > 0 else "")


def _cell(value: Any, *, limit: int | None = MAX_CELL) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"), default=str)
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if limit is None or len(text) <= limit else text[: limit - 1] + ELLIPSIS


@dataclass(frozen=True)
class Column:
    """A table column: its header, and a key or a function giving the cell from a row."""

    header: str
    value: str | Callable[[Mapping[str, Any]], Any]
    align: str = "<"

    def cell(self, row: Mapping[str, Any]) -> str:
        raw = self.value(row) if callable(self.value) else row.get(self.value)
        return _cell(raw)


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """Rows under their headers, columns two spaces apart, trailing blanks trimmed."""
    cells = [[column.cell(row) for column in columns] for row in rows]
    widths = [
        max([len(column.header), *(len(line[i]) for line in cells)])
        for i, column in enumerate(columns)
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            f"{value:{column.align}{width}}"
            for value, column, width in zip(values, columns, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line([c.header for c in columns]), *(line(row) for row in cells)])


def render_fields(pairs: Iterable[tuple[str, Any]]) -> str:
    """``label: value`` lines with the values aligned, each value whole.

    >>> print(render_fields([("id", "j1"), ("status", "completed")]))
    id:      j1
    status:  completed
    """
    items = list(pairs)
    width = max((len(label) for label, _ in items), default=0) + 1
    return "\n".join(
        f"{label + ':':<{width}}  {_cell(value, limit=None)}" for label, value in items
    )


class Output:
    """stdout for results (JSON with ``--json``), stderr for notes meant for people."""

    def __init__(
        self, *, json_mode: bool, stdout: TextIO | None = None, stderr: TextIO | None = None
    ):
        self.json_mode = json_mode
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    def result(self, data: Any, render: Callable[[], str]) -> None:
        """``data`` as JSON with ``--json``, else ``render()``'s text."""
        if self.json_mode:
            self.json(data)
        else:
            self.line(render())

    def json(self, data: Any, *, compact: bool = False) -> None:
        text = json.dumps(data, separators=(",", ":")) if compact else json.dumps(data, indent=2)
        self.line(text)

    def line(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def raw(self, data: bytes) -> None:
        """Bytes as they came (an export), to stdout's binary side when it has one."""
        binary = getattr(self.stdout, "buffer", None)
        if binary is None:
            self.stdout.write(data.decode("utf-8", errors="replace"))
            self.stdout.flush()
            return
        self.stdout.flush()
        binary.write(data)
        binary.flush()

    def note(self, text: str) -> None:
        self.stderr.write(text + "\n")
        self.stderr.flush()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class JobProgress:
    """A job's events as people read them: a live bar, or one plain line per event.

    With ``live`` (a terminal, normally stderr) each round redraws one line in place::

        [██████████░░░░░░░░░░] round 1/2  accuracy=0.9123 loss=0.2  1.20s  ↑12.0 KiB ↓48.0 KiB

    and other events print above it. With ``lines`` each event is one line there. The final
    event's summary is returned by :meth:`event` for the caller to print where it belongs.
    """

    BAR_WIDTH = 20

    def __init__(
        self,
        *,
        job_id: str,
        total_rounds: int | None,
        live: TextIO | None = None,
        lines: TextIO | None = None,
    ) -> None:
        self.job_id = job_id
        self.total = total_rounds
        self.live = live
        self.lines = lines
        self._bar = ""
        self._fill, self._empty = self._bar_glyphs(live)

    @classmethod
    def for_streams(
        cls, *, job_id: str, total_rounds: int | None, stderr: TextIO, stdout: TextIO, quiet: bool
    ) -> JobProgress:
        """Live on ``stderr`` when it is a terminal; else plain lines on ``stdout`` unless
        ``quiet`` (stdout carries JSON)."""
        live = stderr if _is_tty(stderr) else None
        lines = stdout if live is None and not quiet else None
        return cls(job_id=job_id, total_rounds=total_rounds, live=live, lines=lines)

    @staticmethod
    def _bar_glyphs(stream: TextIO | None) -> tuple[str, str]:
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        return ("█", "░") if encoding in ("utf8", "utf_8") else ("#", "-")

    def event(self, event: JobEvent) -> str | None:
        """Show one event; for the final one, close the bar and return the summary line."""
        data = event.data
        if event.type == "job_created":
            if self.total is None and isinstance(data.get("rounds"), int):
                self.total = data["rounds"]
            waiting = data.get("min_participants")
            self._say(
                f"job {self.job_id} created: task {data.get('task', '?')}, "
                f"{data.get('rounds', '?')} rounds, {data.get('strategy', '?')}, "
                f"waiting for {waiting if waiting is not None else '?'} participants"
            )
        elif event.type == "job_started":
            participants = data.get("participants") or []
            self._say(
                f"job {self.job_id} started with {len(participants)} participants: "
                + ", ".join(map(str, participants))
            )
        elif event.type == "round_completed":
            self._round(data)
        elif event.final:
            return self._finish(event)
        return None

    def _round_label(self, number: Any) -> str:
        total = self.total if self.total is not None else "?"
        label = f"round {number}/{total}"
        return f"{label} (initial evaluation)" if number == 0 else label

    def _round(self, data: Mapping[str, Any]) -> None:
        number = data.get("round")
        failures = data.get("failures") or {}
        details = [
            format_metrics(data.get("metrics")),
            human_duration(data.get("duration_s")),
        ]
        if self.live is not None:
            details.append(
                f"↑{human_bytes(data.get('bytes_sent'))} ↓{human_bytes(data.get('bytes_received'))}"
                if self._fill == "█"
                else f"sent {human_bytes(data.get('bytes_sent'))} "
                f"received {human_bytes(data.get('bytes_received'))}"
            )
            if failures:
                details.append(f"{len(failures)} failed")
            self._draw(number, "  ".join(details))
            return
        if number != 0:  # round 0 evaluates the initial model: nothing moved, nobody trained
            details += [
                f"sent {human_bytes(data.get('bytes_sent'))}",
                f"received {human_bytes(data.get('bytes_received'))}",
                f"{len(data.get('participants') or [])} participants",
            ]
        if failures:
            details.append("failures: " + ", ".join(f"{p} ({why})" for p, why in failures.items()))
        self._say(f"{self._round_label(number)}: " + ", ".join(details))

    def _draw(self, number: Any, details: str) -> None:
        assert self.live is not None
        done = number if isinstance(number, int) else 0
        fraction = min(max(done / self.total, 0.0), 1.0) if self.total else 0.0
        filled = round(fraction * self.BAR_WIDTH)
        bar = self._fill * filled + self._empty * (self.BAR_WIDTH - filled)
        text = f"[{bar}] {self._round_label(number)}  {details}"
        width = shutil.get_terminal_size((100, 24)).columns - 1
        self._bar = text if len(text) <= width else text[: max(width - 1, 0)] + ELLIPSIS
        self.live.write("\r\x1b[K" + self._bar)
        self.live.flush()

    def _say(self, text: str) -> None:
        if self.live is not None:
            self.live.write("\r\x1b[K" + text + "\n" + self._bar)
            self.live.flush()
        elif self.lines is not None:
            self.lines.write(text + "\n")
            self.lines.flush()

    def _finish(self, event: JobEvent) -> str:
        if self.live is not None and self._bar:
            self.live.write("\n")
            self.live.flush()
            self._bar = ""
        return final_summary(self.job_id, event)


def final_summary(job_id: str, event: JobEvent) -> str:
    """One line on how the job ended.

    >>> e = JobEvent(sequence=9, type="job_finished",
    ...              data={"rounds": 2, "metrics": {"accuracy": 0.95}, "duration_s": 31.0})
    >>> final_summary("j1", e)
    'job j1 completed: 2 rounds in 31.0s, accuracy=0.95'
    """
    data = event.data
    reason = str(data.get("reason") or "")
    if event.type == "job_finished":
        text = (
            f"job {job_id} completed: {data.get('rounds', '?')} rounds in "
            f"{human_duration(data.get('duration_s'))}, {format_metrics(data.get('metrics'))}"
        )
        return f"{text} ({reason})" if reason else text
    status = {"job_failed": "failed", "job_stopped": "stopped"}.get(event.type, event.type)
    return f"job {job_id} {status}: {reason}" if reason else f"job {job_id} {status}"
