"""A job's personalization report: how much each participant gains by fine-tuning the final
global model on its own data.

With run config ``personalize-epochs`` > 0 every participant fine-tunes the final global
model after the last round and answers the job's ``query.personalize`` message with the
accuracy of the global and of its personalized model on a slice of its own data that it
never trained on (metrics ``personal_global_accuracy``, ``personal_accuracy``,
``personal_test_examples``). The coordinator keeps those answers in the job's audits; this
module turns them into the report. The means weigh every participant equally: the report is
about how each participant fares, not about the average example.

>>> audits = {"h1": {"personal_global_accuracy": 0.6, "personal_accuracy": 0.8,
...                  "personal_test_examples": 40.0, "mia_auc": 0.52},
...           "h2": {"mia_auc": 0.5}}
>>> report = build_personalization_report(job_id="j1", run_config={"personalize-epochs": 2},
...                                       audits=audits, status="completed")
>>> report.available, report.epochs, sorted(report.participants)
(True, 2, ['h1'])
>>> round(report.participants["h1"].gain, 6), report.participants["h1"].test_examples
(0.2, 40)
>>> build_personalization_report(job_id="j1", run_config={}, audits={},
...                              status="completed").reason
'the job did not ask for personalization (personalize-epochs is 0)'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EPOCHS_KEY",
    "ParticipantPersonalization",
    "PersonalizationReport",
    "build_personalization_report",
    "personalize_epochs",
]

EPOCHS_KEY = "personalize-epochs"
FINAL_STATUSES = frozenset({"completed", "failed", "stopped"})
GLOBAL_ACCURACY = "personal_global_accuracy"
PERSONALIZED_ACCURACY = "personal_accuracy"
TEST_EXAMPLES = "personal_test_examples"


class ParticipantPersonalization(BaseModel):
    """One participant's accuracy of the global and of its personalized model."""

    model_config = ConfigDict(frozen=True)

    global_accuracy: float = Field(description="the final global model on the local slice")
    personalized_accuracy: float = Field(description="the fine-tuned model on the same slice")
    gain: float = Field(description="personalized_accuracy - global_accuracy")
    test_examples: int = Field(description="size of the local slice never trained on")


class PersonalizationReport(BaseModel):
    """What personalization gave each participant; ``available`` is false, with the reason,
    when the job did not ask for it, has not finished, or no participant answered."""

    job_id: str
    available: bool
    reason: str = ""
    epochs: int = Field(description="the job's personalize-epochs (0: not asked)")
    participants: dict[str, ParticipantPersonalization] = Field(default_factory=dict)
    mean_global_accuracy: float | None = None
    mean_personalized_accuracy: float | None = None


def personalize_epochs(run_config: Mapping[str, Any]) -> int:
    """The job's ``personalize-epochs``; 0 when absent or not a number (the task refuses a bad
    value before the job starts, so a stored job has a good one).

    >>> personalize_epochs({"personalize-epochs": "3"}), personalize_epochs({})
    (3, 0)
    """
    value = run_config.get(EPOCHS_KEY, 0)
    if isinstance(value, bool):
        return 0
    try:
        return max(int(float(value)), 0)
    except (TypeError, ValueError):
        return 0


def build_personalization_report(
    *,
    job_id: str,
    run_config: Mapping[str, Any],
    audits: Mapping[str, Mapping[str, float]] | None,
    status: str,
) -> PersonalizationReport:
    """The report from the job's run config, status and participants' query answers."""
    epochs = personalize_epochs(run_config)
    if epochs == 0:
        return PersonalizationReport(
            job_id=job_id,
            available=False,
            reason=f"the job did not ask for personalization ({EPOCHS_KEY} is 0)",
            epochs=0,
        )
    if status not in FINAL_STATUSES:
        return PersonalizationReport(
            job_id=job_id,
            available=False,
            reason=f"the job is {status}: participants personalize after the last round",
            epochs=epochs,
        )
    participants = {
        who: _participant(answers)
        for who, answers in sorted((audits or {}).items())
        if GLOBAL_ACCURACY in answers and PERSONALIZED_ACCURACY in answers
    }
    if not participants:
        return PersonalizationReport(
            job_id=job_id,
            available=False,
            reason=f"the job is {status} and no participant reported a personalized model",
            epochs=epochs,
        )
    count = len(participants)
    return PersonalizationReport(
        job_id=job_id,
        available=True,
        epochs=epochs,
        participants=participants,
        mean_global_accuracy=sum(p.global_accuracy for p in participants.values()) / count,
        mean_personalized_accuracy=sum(p.personalized_accuracy for p in participants.values())
        / count,
    )


def _participant(answers: Mapping[str, float]) -> ParticipantPersonalization:
    global_accuracy = float(answers[GLOBAL_ACCURACY])
    personalized_accuracy = float(answers[PERSONALIZED_ACCURACY])
    return ParticipantPersonalization(
        global_accuracy=global_accuracy,
        personalized_accuracy=personalized_accuracy,
        gain=personalized_accuracy - global_accuracy,
        test_examples=int(answers.get(TEST_EXAMPLES, 0)),
    )
