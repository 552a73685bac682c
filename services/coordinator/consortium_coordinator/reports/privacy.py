"""A job's privacy report from the database, and its readable HTML page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from html import escape
from typing import Any

from consortium_core.homomorphic import HomomorphicSettings
from consortium_core.privacy.report import PrivacyReport, RoundRecord, build_privacy_report
from consortium_core.secure_aggregation import SecureAggregationSettings
from sqlalchemy.ext.asyncio import AsyncSession

from ..jobs import store

__all__ = ["load_privacy_report", "render_privacy_page"]


async def load_privacy_report(session: AsyncSession, job_id: str) -> PrivacyReport:
    """Build the report of ``job_id`` from its stored rounds and audits."""
    job = await store.get_job(session, job_id)
    rounds = await store.list_rounds(session, job_id)
    secure = SecureAggregationSettings.from_run_config(job.run_config)
    homomorphic = HomomorphicSettings.from_run_config(job.run_config)
    return build_privacy_report(
        job_id=job.id,
        run_config=job.run_config,
        rounds=[
            RoundRecord(
                number=r.number, participant_metrics=r.participant_metrics, failures=r.failures
            )
            for r in rounds
        ],
        audits=job.audits,
        status=job.status,
        reason=job.reason,
        secure_aggregation_settings=None if secure is None else asdict(secure),
        homomorphic_settings=None if homomorphic is None else asdict(homomorphic),
    )


_AGGREGATION_NAMES = {
    "plain": "plain (no secure aggregation)",
    "secagg+": "SecAgg+ (secure aggregation)",
    "he-ckks": "homomorphic encryption (CKKS)",
}


def _settings(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{escape(k)}={escape(str(v))}" for k, v in values.items())


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def render_privacy_page(report: PrivacyReport) -> str:
    """The report as a self-contained HTML page (no scripts, every value escaped)."""
    rows = "".join(
        "<tr>"
        f"<td>{escape(who)}</td><td>{_number(p.noise_multiplier)}</td>"
        f"<td>{_number(p.sample_rate)}</td><td>{p.steps}</td><td>{p.rounds}</td>"
        f"<td>{_number(p.delta)}</td><td><b>{_number(p.epsilon_prv)}</b></td>"
        f"<td>{_number(p.epsilon_rdp)}</td>"
        "</tr>"
        for who, p in report.participants.items()
    )
    budget = (
        "none"
        if report.budget is None
        else f"epsilon {_number(report.budget.epsilon)} at delta {_number(report.budget.delta)}"
        f" ({escape(report.budget.accountant)})"
        + (
            f"; ended the job early: {escape(report.budget.reason)}"
            if report.budget.stopped_early
            else ""
        )
    )
    refusals = "".join(
        f"<li>round {r.round}: {escape(r.participant)}: {escape(r.reason)}</li>"
        for r in report.refusals
    )
    mia = report.membership_inference
    mia_text = (
        "not measured"
        if mia is None
        else f"{escape(mia.attack)} attack on the final model: AUC mean {_number(mia.auc_mean, 3)},"
        f" max {_number(mia.auc_max, 3)} (0.5 = chance); best advantage "
        f"{_number(mia.advantage_max, 3)}"
    )
    dp = "on: " + escape(report.mechanism or "") if report.dp else "off"
    largest = (
        f"{_number(report.epsilon_max)} at delta {_number(report.delta)} "
        f"({escape(report.accountant)} accountant)"
    )
    c = report.central_dp
    central = (
        "off"
        if c is None
        else f"{escape(c.mode)}, noise multiplier {_number(c.noise_multiplier)}, clipping norm "
        f"{_number(c.clipping_norm)}, {c.rounds} round(s): per-participant epsilon "
        + (_number(c.epsilon) if c.epsilon is not None else "not accounted (adaptive clipping)")
    )
    secure = "on" if report.secure_aggregation else "off"
    if report.secure_aggregation_settings:
        secure += f" (SecAgg+: {_settings(report.secure_aggregation_settings)})"
    aggregation = escape(_AGGREGATION_NAMES.get(report.aggregation, report.aggregation))
    if report.homomorphic_settings:
        aggregation += f" ({_settings(report.homomorphic_settings)})"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Privacy report - job {escape(report.job_id)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; max-width: 60rem; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: .3rem .6rem; }}
th {{ background: #f3f3f3; }} dt {{ font-weight: bold; margin-top: .6rem; }}
</style></head><body>
<h1>Privacy report</h1>
<p>Job <code>{escape(report.job_id)}</code>, status {escape(report.status or "-")}.</p>
<dl>
<dt>Differential privacy</dt><dd>{dp}</dd>
<dt>Largest epsilon of any participant</dt><dd>{largest}</dd>
<dt>Central DP</dt><dd>{central}</dd>
<dt>Aggregation</dt><dd>{aggregation}</dd>
<dt>What the coordinator saw</dt><dd>{escape(report.server_saw)}</dd>
<dt>Secure aggregation</dt><dd>{secure}</dd>
<dt>Job budget</dt><dd>{budget}</dd>
<dt>Measured risk</dt><dd>{mia_text}</dd>
</dl>
<h2>Participants</h2>
<table><tr><th>participant</th><th>noise multiplier</th><th>sample rate</th><th>steps</th>
<th>rounds</th><th>delta</th><th>epsilon (PRV)</th><th>epsilon (RDP)</th></tr>{rows}</table>
<h2>Refusals</h2>
{f"<ul>{refusals}</ul>" if refusals else "<p>none</p>"}
<h2>Recompute it</h2><p>{escape(report.how_to_recompute)}</p>
</body></html>
"""
