"""Names of the objects services share through JetStream object stores.

>>> checkpoint_object("j1", 3), update_object("j1", 3, "h-1")
('j1/round-3.safetensors', 'j1/round-3/h-1.safetensors')
"""

from __future__ import annotations

__all__ = ["checkpoint_object", "update_object"]


def checkpoint_object(job_id: str, server_round: int) -> str:
    """The global model after ``server_round`` (round 0: the initial model)."""
    return f"{job_id}/round-{server_round}.safetensors"


def update_object(job_id: str, server_round: int, participant: str) -> str:
    """One participant's trained model of ``server_round`` (jobs that score contributions)."""
    return f"{job_id}/round-{server_round}/{participant}.safetensors"
