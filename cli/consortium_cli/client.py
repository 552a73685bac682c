"""The gateway's ``/api/v1`` as Python: one configured httpx client, one method per endpoint.

Every failure arrives as a typed error from :mod:`.errors`: a problem response
(``application/problem+json``) as :class:`GatewayProblem` (a refused token as
:class:`SessionExpired`), and a gateway that does not answer as :class:`GatewayUnreachable`.
A job's server-sent events are parsed here too (:func:`parse_sse`); :meth:`GatewayClient.job_events`
resumes a dropped stream with ``Last-Event-ID``, so no event is lost or repeated.

>>> stream = ["event: round_completed", 'data: {"round": 1}', "id: 7", "", ": ping", ""]
>>> [(e.event, e.data, e.id) for e in parse_sse(stream)]
[('round_completed', '{"round": 1}', '7')]
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx

from . import __version__
from .config import api_url, normalize_gateway_url
from .errors import (
    GatewayProblem,
    GatewayUnreachable,
    SessionExpired,
    UnexpectedResponse,
    UsageError,
)
from .wire import (
    AuditEntry,
    AuditVerification,
    EnrollmentToken,
    Job,
    JobCreate,
    Login,
    Operator,
    Participant,
    ParticipantDetail,
    Revocation,
    Round,
)

__all__ = [
    "FINAL_EVENTS",
    "GatewayClient",
    "JobEvent",
    "ModelDownload",
    "ServerSentEvent",
    "parse_metrics_header",
    "parse_sse",
]

FINAL_EVENTS = frozenset({"job_finished", "job_failed", "job_stopped"})
"""After one of these the gateway ends a job's event stream."""
PROBLEM_TYPES = ("application/problem+json", "application/json")


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event of a ``text/event-stream``."""

    event: str
    data: str
    id: str | None = None
    retry: int | None = None


def parse_sse(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """Events from the lines of an event stream, as the HTML standard interprets them.

    Data lines join with newlines; ``id`` persists until changed; comments (``:``) and unknown
    fields are skipped; an event without data is not dispatched, nor is an unterminated one.

    >>> lines = ["data: a", "data:b", "", "id: 3", "event: x", "data: c", "", "data: d", ""]
    >>> [(e.event, e.data, e.id) for e in parse_sse(lines)]
    [('message', 'a\\nb', None), ('x', 'c', '3'), ('message', 'd', '3')]
    """
    data: list[str] = []
    event = ""
    last_id: str | None = None
    retry: int | None = None
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield ServerSentEvent(
                    event=event or "message", data="\n".join(data), id=last_id, retry=retry
                )
            data, event = [], ""
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            last_id = value or None
        elif name == "retry" and value.isdigit():
            retry = int(value)


@dataclass(frozen=True)
class JobEvent:
    """A job event: its position in the stream (for resuming), its type and its JSON body."""

    sequence: int | None
    type: str
    data: dict[str, Any]

    @classmethod
    def from_sse(cls, sse: ServerSentEvent) -> JobEvent:
        try:
            body = json.loads(sse.data)
        except ValueError as exc:
            raise UnexpectedResponse(
                f"the gateway sent a {sse.event} event that is not JSON"
            ) from exc
        if not isinstance(body, dict):
            raise UnexpectedResponse(f"the gateway sent a {sse.event} event that is not an object")
        sequence = int(sse.id) if sse.id and sse.id.isdigit() else None
        return cls(sequence=sequence, type=str(body.get("type") or sse.event), data=body)

    @property
    def final(self) -> bool:
        return self.type in FINAL_EVENTS


def parse_metrics_header(value: str) -> dict[str, float]:
    """``X-Consortium-Metrics`` (``name=value,...``) as a dict; unreadable pairs are skipped.

    >>> parse_metrics_header("accuracy=0.95,loss=0.12,odd")
    {'accuracy': 0.95, 'loss': 0.12}
    """
    metrics: dict[str, float] = {}
    for pair in value.split(","):
        name, equals, number = pair.partition("=")
        try:
            if equals:
                metrics[name.strip()] = float(number)
        except ValueError:
            continue
    return metrics


@dataclass
class ModelDownload:
    """A global model on its way: what the headers say about it, and its bytes as they come."""

    task: str
    round: int | None
    job_status: str
    metrics: dict[str, float]
    sha256: str
    filename: str | None
    chunks: Iterator[bytes] = field(repr=False)


def _tls(ca_cert: str | None) -> ssl.SSLContext | bool:
    if not ca_cert:
        return True
    try:
        return ssl.create_default_context(cafile=ca_cert)
    except FileNotFoundError as exc:
        raise UsageError(f"the CA certificate {ca_cert} does not exist (see --ca)") from exc
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise UsageError(f"the CA certificate {ca_cert} cannot be read: {exc}") from exc


class GatewayClient:
    """The gateway's API, logged in when ``token`` is given. Use as a context manager."""

    def __init__(
        self,
        gateway_url: str,
        *,
        ca_cert: str | None = None,
        token: str | None = None,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.gateway_url = normalize_gateway_url(gateway_url)
        self._token = token
        self._timeout_s = timeout_s
        headers = {"User-Agent": f"consortium-cli/{__version__}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=api_url(self.gateway_url),
            verify=_tls(ca_cert),
            headers=headers,
            timeout=timeout_s,
            transport=transport,
        )

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- operators ------------------------------------------------------------------------
    def login(self, username: str, password: str) -> Login:
        """``POST /auth/login``: a bearer token for ``username``."""
        body = {"username": username, "password": password}
        return cast(Login, self._json("POST", "/auth/login", json=body))

    def me(self) -> Operator:
        """``GET /auth/me``: the operator the token speaks for."""
        return cast(Operator, self._json("GET", "/auth/me"))

    def list_operators(self) -> list[Operator]:
        """``GET /operators`` (admin)."""
        return cast(list[Operator], self._json("GET", "/operators"))

    def create_operator(self, *, username: str, password: str, role: str) -> Operator:
        """``POST /operators`` (admin)."""
        body = {"username": username, "password": password, "role": role}
        return cast(Operator, self._json("POST", "/operators", json=body))

    # -- jobs -----------------------------------------------------------------------------
    def list_jobs(
        self, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        """``GET /jobs``, newest first."""
        params = {"status": status, "limit": limit, "offset": offset}
        return cast(list[Job], self._json("GET", "/jobs", params=params))

    def get_job(self, job_id: str) -> Job:
        """``GET /jobs/{id}``."""
        return cast(Job, self._json("GET", f"/jobs/{_segment(job_id)}"))

    def create_job(self, spec: JobCreate) -> Job:
        """``POST /jobs``: it starts when enough participants are online."""
        return cast(Job, self._json("POST", "/jobs", json=dict(spec)))

    def stop_job(self, job_id: str) -> Job:
        """``POST /jobs/{id}/stop``."""
        return cast(Job, self._json("POST", f"/jobs/{_segment(job_id)}/stop"))

    def job_rounds(self, job_id: str) -> list[Round]:
        """``GET /jobs/{id}/rounds``; round 0 is the initial model's evaluation."""
        return cast(list[Round], self._json("GET", f"/jobs/{_segment(job_id)}/rounds"))

    def privacy_report(self, job_id: str) -> dict[str, Any]:
        """``GET /jobs/{id}/privacy-report``."""
        report = self._json("GET", f"/jobs/{_segment(job_id)}/privacy-report")
        return cast(dict[str, Any], report)

    def privacy_report_html(self, job_id: str) -> str:
        """``GET /jobs/{id}/privacy-report.html``: the page to print or archive."""
        return self._request("GET", f"/jobs/{_segment(job_id)}/privacy-report.html").text

    @contextmanager
    def model(self, job_id: str) -> Iterator[ModelDownload]:
        """``GET /jobs/{id}/model``: the latest global model, streamed (safetensors bytes)."""
        with self._errors_translated(), self._stream("GET", f"/jobs/{_segment(job_id)}/model") as r:
            number = r.headers.get("x-consortium-round", "")
            yield ModelDownload(
                task=r.headers.get("x-consortium-task", ""),
                round=int(number) if number.isdigit() else None,
                job_status=r.headers.get("x-consortium-job-status", ""),
                metrics=parse_metrics_header(r.headers.get("x-consortium-metrics", "")),
                sha256=r.headers.get("x-consortium-sha256", "").lower(),
                filename=_attachment_name(r.headers.get("content-disposition", "")),
                chunks=r.iter_bytes(),
            )

    def job_events(
        self,
        job_id: str,
        *,
        after: int | None = None,
        reconnects: int = 5,
        backoff_s: float = 0.5,
        idle_timeout_s: float = 60.0,
    ) -> Iterator[JobEvent]:
        """``GET /jobs/{id}/events`` until the job's final event.

        The gateway sends a comment every 15 s, so ``idle_timeout_s`` of silence means a dead
        connection. A connection that drops, or a stream that ends before the final event, is
        opened again with ``Last-Event-ID`` (up to ``reconnects`` times in a row, backing off).
        """
        last = after
        failures = 0
        connected = False
        path = f"/jobs/{_segment(job_id)}/events"
        timeout = httpx.Timeout(self._timeout_s, read=idle_timeout_s)
        while True:
            headers = {"Accept": "text/event-stream"}
            if last is not None:
                headers["Last-Event-ID"] = str(last)
            failure: httpx.TransportError | None = None
            try:
                with self._stream("GET", path, headers=headers, timeout=timeout) as response:
                    connected = True
                    for sse in parse_sse(response.iter_lines()):
                        event = JobEvent.from_sse(sse)
                        if event.sequence is not None:
                            last = event.sequence
                        failures = 0
                        yield event
                        if event.final:
                            return
            except httpx.TransportError as exc:
                if not connected:
                    raise self._unreachable(exc) from exc
                failure = exc
            failures += 1
            if failures > reconnects:
                if failure is not None:
                    raise self._unreachable(failure) from failure
                raise UnexpectedResponse(
                    f"the gateway ended job {job_id}'s event stream before the job ended"
                )
            time.sleep(backoff_s * 2 ** (failures - 1))

    # -- participants ---------------------------------------------------------------------
    def list_participants(
        self, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Participant]:
        """``GET /participants``, with whether each is online now."""
        params = {"status": status, "limit": limit, "offset": offset}
        return cast(list[Participant], self._json("GET", "/participants", params=params))

    def get_participant(self, participant_id: str) -> ParticipantDetail:
        """``GET /participants/{id}`` with its certificate history."""
        path = f"/participants/{_segment(participant_id)}"
        return cast(ParticipantDetail, self._json("GET", path))

    def create_participant(
        self, participant_id: str, *, name: str = "", organisation: str = "", contact: str = ""
    ) -> Participant:
        """``POST /participants`` (admin)."""
        body = {
            "participant_id": participant_id,
            "name": name,
            "organisation": organisation,
            "contact": contact,
        }
        return cast(Participant, self._json("POST", "/participants", json=body))

    def create_enrollment_token(
        self, participant_id: str, *, ttl_s: int | None = None
    ) -> EnrollmentToken:
        """``POST /participants/{id}/enrollment-tokens`` (admin): shown this once."""
        path = f"/participants/{_segment(participant_id)}/enrollment-tokens"
        body = {"ttl_s": ttl_s} if ttl_s is not None else {}
        return cast(EnrollmentToken, self._json("POST", path, json=body))

    def revoke_participant(self, participant_id: str, *, reason: str) -> Revocation:
        """``POST /participants/{id}/revoke`` (admin)."""
        path = f"/participants/{_segment(participant_id)}/revoke"
        return cast(Revocation, self._json("POST", path, json={"reason": reason}))

    # -- audit ----------------------------------------------------------------------------
    def audit(self, *, after_seq: int = 0, limit: int = 100) -> list[AuditEntry]:
        """``GET /audit``: entries after ``after_seq``, in order."""
        params = {"after_seq": after_seq, "limit": limit}
        return cast(list[AuditEntry], self._json("GET", "/audit", params=params))

    def verify_audit(self) -> AuditVerification:
        """``GET /audit/verify``: every hash and link recomputed."""
        return cast(AuditVerification, self._json("GET", "/audit/verify"))

    @contextmanager
    def export_audit(self) -> Iterator[Iterator[bytes]]:
        """``GET /audit/export``: the whole log as JSON lines, streamed."""
        with self._errors_translated(), self._stream("GET", "/audit/export") as response:
            yield response.iter_bytes()

    # -- plumbing -------------------------------------------------------------------------
    def _json(self, method: str, path: str, **options: Any) -> Any:
        response = self._request(method, path, **options)
        try:
            return response.json()
        except ValueError as exc:
            raise UnexpectedResponse(
                f"the gateway answered {method} {path} with something that is not JSON"
            ) from exc

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        with self._errors_translated():
            response = self._http.request(method, path, params=clean, json=json)
        if not response.is_success:
            raise self._problem(response)
        return response

    @contextmanager
    def _stream(self, method: str, path: str, **options: Any) -> Iterator[httpx.Response]:
        with self._http.stream(method, path, **options) as response:
            if not response.is_success:
                response.read()
                raise self._problem(response)
            yield response

    @contextmanager
    def _errors_translated(self) -> Iterator[None]:
        try:
            yield
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc

    def _unreachable(self, exc: httpx.TransportError) -> GatewayUnreachable:
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(
            exc.__context__, ssl.SSLCertVerificationError
        ):
            return GatewayUnreachable(
                self.gateway_url,
                "its TLS certificate is not trusted",
                hint="pass the platform CA with --ca var/pki/ca.crt (or CONSORTIUM_CA_CERT)",
            )
        if isinstance(exc, httpx.TimeoutException):
            return GatewayUnreachable(
                self.gateway_url,
                "it did not answer in time",
                hint="it may be overloaded; try again, or check that --gateway is right",
            )
        if "refused" in text.lower():
            return GatewayUnreachable(self.gateway_url, "connection refused")
        return GatewayUnreachable(self.gateway_url, text or type(exc).__name__)

    def _problem(self, response: httpx.Response) -> GatewayProblem | SessionExpired:
        title, detail = _problem_text(response)
        if response.status_code == 401 and self._token:
            hint = "" if "log in" in detail.lower() else "; log in again: consortium login"
            return SessionExpired(f"{title}: {detail}{hint}")
        return GatewayProblem(response.status_code, title, detail)


def _problem_text(response: httpx.Response) -> tuple[str, str]:
    """(title, detail) of an error response, problem+json or not."""
    content_type = response.headers.get("content-type", "").split(";")[0].strip()
    reason = response.reason_phrase or f"HTTP {response.status_code}"
    if content_type in PROBLEM_TYPES:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            detail = body.get("detail", "")
            if not isinstance(detail, str):
                detail = json.dumps(detail)
            return str(body.get("title") or reason), detail
    text = " ".join(response.text.split())[:300]
    return reason, text or f"the gateway answered {response.status_code}"


def _segment(value: str) -> str:
    """An id as one path segment; anything that would change the path is a usage error."""
    if not value or "/" in value or value in (".", "..") or any(c in value for c in "?#%"):
        raise UsageError(f"not a valid id: {value!r}")
    return value


def _attachment_name(disposition: str) -> str | None:
    """The file name in ``Content-Disposition: attachment; filename="..."``, base name only."""
    for part in disposition.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "filename" and value:
            return Path(value.strip('"')).name or None
    return None
