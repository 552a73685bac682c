"""What the contribution service answers (the gateway serves the same shapes)."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["JobContributions", "LedgerEntry", "ParticipantContribution", "RoundContribution"]


class ParticipantContribution(BaseModel):
    participant_id: str
    value: float = Field(description="the sum of its values over the job's scored rounds")
    share: float | None = Field(
        description="its value over the sum of every participant's absolute value"
    )
    rounds: int = Field(description="scored rounds it took part in")


class RoundContribution(BaseModel):
    round: int
    scored: bool
    reason: str = Field(description="why the round is not scored, when it is not")
    values: dict[str, float]
    evaluations: int = Field(description="coalition models built and scored")
    eval_fraction: float = Field(description="evaluations over the 2**n exact Shapley needs")
    truncated: bool = Field(description="the round gained too little to share out (GTG)")
    utility_all: float | None = Field(description="accuracy of everyone's model (the round's)")
    utility_none: float | None = Field(description="accuracy of the round's starting model")
    seconds: float


class JobContributions(BaseModel):
    job_id: str
    task: str
    method: str | None = Field(description="the estimator; none when the job is not scored")
    available: bool
    reason: str = Field(description="why there are no values (secure aggregation, ...)")
    participants: list[ParticipantContribution]
    rounds: list[RoundContribution]


class LedgerEntry(BaseModel):
    participant_id: str
    value: float = Field(description="the sum of its values over every scored job")
    jobs: int
    rounds: int
