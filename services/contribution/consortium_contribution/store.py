"""The contribution service's reads and writes. Every write is idempotent (a redelivered
round stores nothing twice): rows are keyed by job, round and participant."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .db.models import ContributionJob, ContributionRound, ContributionValue
from .scoring import RoundScore

__all__ = ["ContributionStore", "StoredRound", "ledger_csv"]


@dataclass(frozen=True)
class StoredRound:
    """A round as stored: its estimator, whether it was scored, the values or the reason."""

    method: str
    scored: bool
    values: dict[str, float]
    reason: str


class ContributionStore:
    """Jobs, scored rounds and values in Postgres."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record_job(self, job_id: str, task: str, method: str | None, reason: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                insert(ContributionJob)
                .values(job_id=job_id, task=task, method=method, reason=reason)
                .on_conflict_do_nothing()
            )

    async def job(self, job_id: str) -> ContributionJob | None:
        async with self._sessions() as session:
            return await session.get(ContributionJob, job_id)

    async def stored_round(self, job_id: str, number: int) -> StoredRound | None:
        """What was stored for a round (to publish its event again), or None."""
        async with self._sessions() as session:
            row = await session.get(ContributionRound, (job_id, number))
            if row is None:
                return None
            values = await session.execute(
                select(ContributionValue.participant, ContributionValue.value).where(
                    ContributionValue.job_id == job_id, ContributionValue.round == number
                )
            )
            return StoredRound(
                method=row.method,
                scored=row.scored,
                values={participant: value for participant, value in values.all()},
                reason=row.reason,
            )

    async def record_round(
        self,
        job_id: str,
        number: int,
        method: str,
        score: RoundScore | None,
        reason: str = "",
    ) -> None:
        """A scored round with its values, or an unscored one with the reason, at once."""
        row: dict[str, Any] = {
            "job_id": job_id,
            "round": number,
            "method": method,
            "scored": score is not None,
            "reason": reason,
        }
        if score is not None:
            row |= {
                "evaluations": score.result.evaluations,
                "eval_fraction": score.result.eval_fraction,
                "truncated": score.result.truncated,
                "utility_all": score.result.utility_all,
                "utility_none": score.result.utility_none,
                "seconds": score.seconds,
            }
        async with self._sessions() as session, session.begin():
            inserted = await session.execute(
                insert(ContributionRound)
                .values(**row)
                .on_conflict_do_nothing()
                .returning(ContributionRound.round)
            )
            if score is not None and inserted.first() is not None:
                await session.execute(
                    insert(ContributionValue).values(
                        [
                            {"job_id": job_id, "round": number, "participant": p, "value": v}
                            for p, v in score.values.items()
                        ]
                    )
                )

    async def job_contributions(self, job_id: str) -> dict[str, Any] | None:
        """The job's method, availability, rounds and each participant's total, or None for a
        job this service has not seen."""
        async with self._sessions() as session:
            job = await session.get(ContributionJob, job_id)
            if job is None:
                return None
            rounds = (
                await session.scalars(
                    select(ContributionRound)
                    .where(ContributionRound.job_id == job_id)
                    .order_by(ContributionRound.round)
                )
            ).all()
            values = (
                await session.scalars(
                    select(ContributionValue)
                    .where(ContributionValue.job_id == job_id)
                    .order_by(ContributionValue.round, ContributionValue.participant)
                )
            ).all()
        by_round: dict[int, dict[str, float]] = {}
        totals: dict[str, float] = {}
        counts: dict[str, int] = {}
        for v in values:
            by_round.setdefault(v.round, {})[v.participant] = v.value
            totals[v.participant] = totals.get(v.participant, 0.0) + v.value
            counts[v.participant] = counts.get(v.participant, 0) + 1
        gained = sum(abs(x) for x in totals.values())
        return {
            "job_id": job_id,
            "task": job.task,
            "method": job.method,
            "available": job.method is not None,
            "reason": job.reason,
            "participants": [
                {
                    "participant_id": p,
                    "value": totals[p],
                    "share": (totals[p] / gained) if gained else None,
                    "rounds": counts[p],
                }
                for p in sorted(totals, key=lambda p: -totals[p])
            ],
            "rounds": [
                {
                    "round": r.round,
                    "scored": r.scored,
                    "reason": r.reason,
                    "values": by_round.get(r.round, {}),
                    "evaluations": r.evaluations,
                    "eval_fraction": r.eval_fraction,
                    "truncated": r.truncated,
                    "utility_all": r.utility_all,
                    "utility_none": r.utility_none,
                    "seconds": r.seconds,
                }
                for r in rounds
            ],
        }

    async def ledger(self) -> list[dict[str, Any]]:
        """Each participant across jobs: its total value, jobs and rounds scored."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(
                        ContributionValue.participant,
                        func.sum(ContributionValue.value),
                        func.count(func.distinct(ContributionValue.job_id)),
                        func.count(),
                    )
                    .group_by(ContributionValue.participant)
                    .order_by(ContributionValue.participant)
                )
            ).all()
        return [
            {"participant_id": p, "value": float(total), "jobs": int(jobs), "rounds": int(n)}
            for p, total, jobs, n in rows
        ]


def ledger_csv(rows: list[dict[str, Any]]) -> str:
    """The ledger as CSV (a header, then one line per participant)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["participant_id", "value", "jobs", "rounds"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
