"""The read model over the metrics tables: what the gateway calls with an ``AsyncSession``.

Every query is a primary-key or index lookup: jobs by ``(created_at, job_id)`` (optionally
with ``status``), rounds by ``(job_id, round)``, participants' rounds by
``(job_id, participant, round)``; ingest totals are one row kept up to date by the consumer.
The functions return the pydantic models of :mod:`consortium_metrics.schemas`.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from consortium_core.errors import UnknownNameError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .db.models import MetricsIngest, MetricsJob, MetricsParticipantRound, MetricsRound
from .errors import InvalidQueryError
from .projections import JobStatus
from .schemas import (
    DpSpend,
    IngestStatus,
    JobMetrics,
    ParticipantPrivacy,
    ParticipantRoundMetrics,
    RoundMetrics,
)

__all__ = [
    "MAX_LIMIT",
    "PRIVACY_ACCOUNTANT",
    "get_job",
    "get_round",
    "ingest_status",
    "list_jobs",
    "list_rounds",
    "participant_metrics",
    "privacy_spent",
]

MAX_LIMIT = 1000
PRIVACY_ACCOUNTANT = "rdp"
DEFAULT_DELTA = 1e-5
"""The delta of a spend that reported none (the coordinator's and the report's default)."""

_JOB_COLUMNS = [c for c in MetricsJob.__table__.c]
_ROUND_COLUMNS = [c for c in MetricsRound.__table__.c if c.name != "event_id"]
_P = MetricsParticipantRound


async def list_jobs(
    session: AsyncSession, *, status: str | None = None, limit: int = 100, offset: int = 0
) -> list[JobMetrics]:
    """Jobs, newest first, optionally only those with ``status``."""
    if status is not None and status not in JobStatus.ALL:
        raise UnknownNameError("job status", status, JobStatus.ALL)
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise InvalidQueryError(
            f"limit must be in 1..{MAX_LIMIT} and offset >= 0, got {limit} and {offset}"
        )
    query = select(*_JOB_COLUMNS)
    if status is not None:
        query = query.where(MetricsJob.status == status)
    query = (
        query.order_by(MetricsJob.created_at.desc(), MetricsJob.job_id.desc())
        .limit(limit)
        .offset(offset)
    )
    rows = (await session.execute(query)).mappings().all()
    return [JobMetrics.from_row(row) for row in rows]


async def get_job(session: AsyncSession, job_id: str) -> JobMetrics | None:
    """The job with this id, or None when no event about it was stored."""
    query = select(*_JOB_COLUMNS).where(MetricsJob.job_id == job_id)
    row = (await session.execute(query)).mappings().first()
    return None if row is None else JobMetrics.from_row(row)


async def list_rounds(session: AsyncSession, job_id: str) -> list[RoundMetrics]:
    """The job's completed rounds in order (empty for an unknown job)."""
    query = (
        select(*_ROUND_COLUMNS).where(MetricsRound.job_id == job_id).order_by(MetricsRound.round)
    )
    rows = (await session.execute(query)).mappings().all()
    return [RoundMetrics.model_validate(dict(row)) for row in rows]


async def get_round(session: AsyncSession, job_id: str, number: int) -> RoundMetrics | None:
    """One round of a job (a primary-key lookup), or None."""
    query = select(*_ROUND_COLUMNS).where(
        MetricsRound.job_id == job_id, MetricsRound.round == number
    )
    row = (await session.execute(query)).mappings().first()
    return None if row is None else RoundMetrics.model_validate(dict(row))


def _dp_spend(row: Any) -> DpSpend | None:
    sigma, rate, steps = row.dp_noise_multiplier, row.dp_sample_rate, row.dp_steps
    if sigma is None or rate is None or steps is None:
        return None
    return DpSpend(noise_multiplier=sigma, sample_rate=rate, steps=steps, delta=row.dp_delta)


async def participant_metrics(session: AsyncSession, job_id: str) -> list[ParticipantRoundMetrics]:
    """What each participant reported in each round, by participant then round."""
    query = (
        select(
            _P.participant,
            _P.round,
            _P.metrics,
            _P.dp_noise_multiplier,
            _P.dp_sample_rate,
            _P.dp_steps,
            _P.dp_delta,
            _P.at,
        )
        .where(_P.job_id == job_id)
        .order_by(_P.participant, _P.round)
    )
    rows = (await session.execute(query)).all()
    return [
        ParticipantRoundMetrics(
            participant=row.participant,
            round=row.round,
            metrics=row.metrics,
            dp=_dp_spend(row),
            at=row.at,
        )
        for row in rows
    ]


def _compose(
    spends: dict[str, list[tuple[float, float, int]]], deltas: dict[str, float]
) -> dict[str, float | str]:
    """Each participant's epsilon, or why its reported spend cannot be accounted."""
    # Opacus (and torch) load on first use only: the gateway imports this module.
    from consortium_core.privacy.accounting import composed_epsilon
    from consortium_core.privacy.errors import PrivacyParameterError

    done: dict[tuple[tuple[tuple[float, float, int], ...], float], float | str] = {}
    epsilons: dict[str, float | str] = {}
    for participant, history in spends.items():
        key = (tuple(sorted(history)), deltas[participant])
        if key not in done:
            try:
                done[key] = composed_epsilon(
                    accountant=PRIVACY_ACCOUNTANT, history=list(key[0]), delta=key[1]
                )
            except PrivacyParameterError as error:  # one participant's bad report
                done[key] = str(error)
        epsilons[participant] = done[key]
    return epsilons


async def privacy_spent(session: AsyncSession, job_id: str) -> list[ParticipantPrivacy]:
    """Each participant's epsilon in the job: its reported DP-SGD rounds composed by RDP at the
    smallest delta it reported (an upper bound; participants without DP have None)."""
    query = (
        select(_P.participant, _P.dp_noise_multiplier, _P.dp_sample_rate, _P.dp_steps, _P.dp_delta)
        .where(_P.job_id == job_id)
        .order_by(_P.participant, _P.round)
    )
    rows = (await session.execute(query)).all()
    rounds: dict[str, int] = defaultdict(int)
    spends: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    deltas: dict[str, float] = {}
    for row in rows:
        rounds[row.participant] += 1
        spend = _dp_spend(row)
        if spend is None:
            continue
        spends[row.participant].append((spend.noise_multiplier, spend.sample_rate, spend.steps))
        delta = spend.delta if spend.delta is not None else DEFAULT_DELTA
        deltas[row.participant] = min(delta, deltas.get(row.participant, delta))
    epsilons = await asyncio.to_thread(_compose, dict(spends), deltas) if spends else {}
    return [
        ParticipantPrivacy(
            participant=participant,
            accountant=PRIVACY_ACCOUNTANT,
            epsilon=value if isinstance(value := epsilons.get(participant), float) else None,
            problem=value if isinstance(value, str) else None,
            delta=deltas.get(participant),
            rounds=count,
            dp_rounds=len(spends.get(participant, ())),
            steps=sum(steps for _, _, steps in spends.get(participant, ())),
        )
        for participant, count in rounds.items()
    ]


async def ingest_status(session: AsyncSession) -> IngestStatus:
    """Events stored, duplicates skipped, messages rejected, and the newest event's time."""
    row = (await session.execute(select(MetricsIngest).where(MetricsIngest.id == 1))).scalar_one()
    return IngestStatus.model_validate(row)
