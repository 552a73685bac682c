"""A job's privacy report: what protected the participants, and numbers anyone can recheck.

Built from what the coordinator recorded: the job's run config, each round's per-participant
``dp_*`` metrics and failures, and the participants' membership-inference audits of the final
model. Per participant it gives the inputs of its DP-SGD over the whole job (noise multiplier,
Poisson sample rate, steps; one row per distinct setting in ``history``) and the epsilon they
give by the PRV and RDP accountants, so anyone can recompute it with Opacus. It also says how
updates were aggregated (``plain``, ``secagg+`` or ``he-ckks``) and so what the coordinator saw.

>>> rounds = [RoundRecord(number=n, participant_metrics={"h1": {
...     "dp_noise_multiplier": 1.0, "dp_sample_rate": 0.05, "dp_steps": 10, "dp_delta": 1e-5}})
...     for n in (1, 2)]
>>> report = build_privacy_report(job_id="j1", run_config={"dp-noise-multiplier": 1.0},
...                               rounds=rounds)
>>> report.dp, report.secure_aggregation, report.participants["h1"].steps
(True, False, 20)
>>> report.participants["h1"].epsilon == report.epsilon_max
True
>>> report.aggregation, report.server_saw
('plain', "each participant's model update in the clear")
>>> he = build_privacy_report(job_id="j2", run_config={"aggregation": "he-ckks"}, rounds=[],
...                           homomorphic_settings={"poly_modulus_degree": 8192})
>>> he.aggregation, he.secure_aggregation, he.homomorphic_settings
('he-ckks', False, {'poly_modulus_degree': 8192})
>>> he.server_saw.startswith("only CKKS ciphertexts")
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..homomorphic.settings import HE_CKKS, SECAGG, aggregation_of
from ..secure_aggregation import SECURE_AGGREGATION_KEY
from .accounting import composed_epsilon
from .central_dp import CentralDPSettings
from .job_budget import JobBudget, missing_spend

__all__ = [
    "SERVER_SAW",
    "BudgetReport",
    "CentralDPReport",
    "MembershipReport",
    "ParticipantPrivacy",
    "PrivacyReport",
    "Refusal",
    "RoundRecord",
    "build_privacy_report",
]

REPORT_ACCOUNTANT = "prv"
MECHANISM = (
    "DP-SGD on each participant (Opacus): Poisson sampling of examples, each example's "
    "gradient clipped to dp-max-grad-norm, Gaussian noise of std noise_multiplier x clip"
)
CENTRAL_MECHANISM = (
    "each participant's update clipped, Gaussian noise of std noise_multiplier x clip / "
    "min-participants added to the equally weighted average, every round"
)
SERVER_SAW = {
    "plain": "each participant's model update in the clear",
    SECAGG: "only the sum of the participants' masked updates, never one participant's update",
    HE_CKKS: "only CKKS ciphertexts: each update and the global model stayed encrypted under a "
    "key that only participants hold",
}
RECOMPUTE = (
    "For each participant: opacus.accountants.PRVAccountant() (or RDPAccountant()); set its "
    "history to [(noise_multiplier, sample_rate, steps), ...] from `history`; "
    "get_epsilon(delta)."
)


class RoundRecord(BaseModel):
    """What the coordinator kept of one round."""

    number: int
    participant_metrics: dict[str, dict[str, float]] = Field(default_factory=dict)
    failures: dict[str, str] = Field(default_factory=dict)


class ParticipantPrivacy(BaseModel):
    """One participant's DP-SGD over the job and its epsilon."""

    model_config = ConfigDict(frozen=True)

    noise_multiplier: float | None = Field(description="None when it changed between rounds")
    sample_rate: float | None = Field(description="None when it changed between rounds")
    steps: int
    rounds: int
    delta: float
    epsilon: float
    accountant: str = REPORT_ACCOUNTANT
    epsilon_rdp: float
    epsilon_prv: float
    history: list[tuple[float, float, int]] = Field(
        description="(noise_multiplier, sample_rate, steps) per distinct setting, composed"
    )


class Refusal(BaseModel):
    """A participant that refused a round to stay within its own privacy limit."""

    round: int
    participant: str
    reason: str


class BudgetReport(BaseModel):
    """The job's target and whether it ended the job early."""

    epsilon: float
    delta: float
    accountant: str
    stopped_early: bool
    reason: str


class MembershipReport(BaseModel):
    """The measured risk: each participant's loss-threshold attack on the final model."""

    attack: str = "loss-threshold"
    auc_mean: float
    auc_max: float
    advantage_max: float
    participants: dict[str, dict[str, float]]


class CentralDPReport(BaseModel):
    """Central DP by Flower's wrappers: per participant (user-level), over the rounds run."""

    mode: str
    noise_multiplier: float
    clipping_norm: float
    rounds: int
    delta: float
    epsilon: float | None = Field(description="None with adaptive clipping (not accounted)")
    accountant: str = REPORT_ACCOUNTANT


class PrivacyReport(BaseModel):
    """Everything about one job's privacy, as JSON and as the readable page."""

    v: int = 1
    job_id: str
    status: str = ""
    dp: bool
    mechanism: str | None
    accountant: str = REPORT_ACCOUNTANT
    delta: float | None
    epsilon_max: float | None
    aggregation: str = Field(description="plain, secagg+ or he-ckks")
    server_saw: str = Field(description="what the coordinator saw of the participants' updates")
    secure_aggregation: bool = Field(description="true for SecAgg+ only")
    secure_aggregation_settings: dict[str, Any] | None = None
    homomorphic_settings: dict[str, Any] | None = Field(
        default=None, description="the CKKS parameters of a he-ckks job"
    )
    budget: BudgetReport | None = None
    central_dp: CentralDPReport | None = None
    participants: dict[str, ParticipantPrivacy] = Field(default_factory=dict)
    refusals: list[Refusal] = Field(default_factory=list)
    membership_inference: MembershipReport | None = None
    how_to_recompute: str = RECOMPUTE


def build_privacy_report(
    *,
    job_id: str,
    run_config: Mapping[str, Any],
    rounds: Sequence[RoundRecord],
    audits: Mapping[str, Mapping[str, float]] | None = None,
    status: str = "",
    reason: str = "",
    secure_aggregation_settings: Mapping[str, Any] | None = None,
    homomorphic_settings: Mapping[str, Any] | None = None,
) -> PrivacyReport:
    """The report of one job from what the coordinator recorded."""
    aggregation = _aggregation(run_config, secure=secure_aggregation_settings is not None)
    histories: dict[str, list[tuple[float, float, int]]] = {}
    deltas: dict[str, float] = {}
    refusals = []
    for record in sorted(rounds, key=lambda r: r.number):
        for participant, metrics in record.participant_metrics.items():
            if missing_spend(metrics) is None:
                histories.setdefault(participant, []).append(
                    (
                        float(metrics["dp_noise_multiplier"]),
                        float(metrics["dp_sample_rate"]),
                        int(metrics["dp_steps"]),
                    )
                )
                deltas[participant] = float(metrics.get("dp_delta", 1e-5))
        refusals += [
            Refusal(round=record.number, participant=who, reason=why)
            for who, why in sorted(record.failures.items())
            if "privacy budget" in why.lower() or "privacybudgetexceeded" in why.lower()
        ]
    participants = {
        who: _participant(history, deltas[who]) for who, history in sorted(histories.items())
    }
    local_dp = bool(participants) or _dp_requested(run_config)
    budget = JobBudget.from_run_config(run_config) if local_dp else None
    central = _central(run_config, rounds)
    mechanisms = [MECHANISM] if local_dp else []
    if central is not None:
        mechanisms.append(f"central DP ({central.mode}, Flower's wrapper): {CENTRAL_MECHANISM}")
    epsilon_max = max((p.epsilon for p in participants.values()), default=None)
    if epsilon_max is None and central is not None:
        epsilon_max = central.epsilon
    return PrivacyReport(
        job_id=job_id,
        status=status,
        dp=local_dp or central is not None,
        mechanism="; ".join(mechanisms) or None,
        delta=next(iter(deltas.values()), None if central is None else central.delta),
        epsilon_max=epsilon_max,
        central_dp=central,
        aggregation=aggregation,
        server_saw=SERVER_SAW[aggregation],
        secure_aggregation=aggregation == SECAGG,
        secure_aggregation_settings=dict(secure_aggregation_settings or {}) or None,
        homomorphic_settings=dict(homomorphic_settings or {}) or None,
        budget=None
        if budget is None
        else BudgetReport(
            epsilon=budget.epsilon,
            delta=budget.delta,
            accountant=budget.accountant,
            stopped_early=reason.startswith("privacy budget reached"),
            reason=reason if reason.startswith("privacy budget reached") else "",
        ),
        participants=participants,
        refusals=refusals,
        membership_inference=_membership(audits or {}),
    )


def _aggregation(run_config: Mapping[str, Any], *, secure: bool) -> str:
    """``aggregation_of`` the run config, with ``secure-aggregation = true`` read as SecAgg+."""
    flag = str(run_config.get(SECURE_AGGREGATION_KEY, False)).strip().lower()
    return SECAGG if secure or flag in ("true", "1", "yes") else aggregation_of(run_config)


def _central(
    run_config: Mapping[str, Any], rounds: Sequence[RoundRecord]
) -> CentralDPReport | None:
    settings = CentralDPSettings.from_run_config(run_config)
    if settings is None:
        return None
    delta = float(run_config.get("dp-delta", 1e-5))
    trained = sum(1 for r in rounds if r.number > 0 and r.participant_metrics)
    return CentralDPReport(
        mode=settings.mode,
        noise_multiplier=settings.noise_multiplier,
        clipping_norm=settings.clipping_norm,
        rounds=trained,
        delta=delta,
        epsilon=settings.epsilon(rounds=trained, delta=delta, accountant=REPORT_ACCOUNTANT)
        if trained
        else 0.0,
    )


def _dp_requested(run_config: Mapping[str, Any]) -> bool:
    return any(run_config.get(k) is not None for k in ("dp-noise-multiplier", "dp-target-epsilon"))


def _participant(history: list[tuple[float, float, int]], delta: float) -> ParticipantPrivacy:
    merged: dict[tuple[float, float], int] = {}
    for sigma, rate, steps in history:
        merged[(sigma, rate)] = merged.get((sigma, rate), 0) + steps
    rows = [(sigma, rate, steps) for (sigma, rate), steps in merged.items()]
    eps = {
        name: composed_epsilon(accountant=name, history=rows, delta=delta)
        for name in ("prv", "rdp")
    }
    single = rows[0] if len(rows) == 1 else None
    return ParticipantPrivacy(
        noise_multiplier=single[0] if single else None,
        sample_rate=single[1] if single else None,
        steps=sum(steps for _, _, steps in rows),
        rounds=len(history),
        delta=delta,
        epsilon=eps[REPORT_ACCOUNTANT],
        epsilon_rdp=eps["rdp"],
        epsilon_prv=eps["prv"],
        history=rows,
    )


def _membership(audits: Mapping[str, Mapping[str, float]]) -> MembershipReport | None:
    # a participant's answers to every query of the job are merged: keep the attack's own
    scored = {
        who: {key: value for key, value in values.items() if key.startswith("mia_")}
        for who, values in audits.items()
        if "mia_auc" in values
    }
    if not scored:
        return None
    aucs = [values["mia_auc"] for values in scored.values()]
    return MembershipReport(
        auc_mean=sum(aucs) / len(aucs),
        auc_max=max(aucs),
        advantage_max=max(values.get("mia_advantage", 0.0) for values in scored.values()),
        participants=dict(sorted(scored.items())),
    )
