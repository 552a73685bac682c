"""Enrolling the demo's simulated hospitals the way a real one joins.

The operator (the platform's admin, password in ``var/run/operator.password``) registers each
hospital and creates a one-time token; the hospital runs ``consortium-client enroll`` with that
token and the CA certificate, which makes its key pair locally and fetches its certificate.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

__all__ = ["OperatorSession", "enroll_hospital"]


class OperatorSession:
    """An operator logged in through the gateway (or at the registry: the same API)."""

    def __init__(
        self, base_url: str, ca_cert: Path, password_file: Path, username: str = "admin"
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/") + "/api/v1", verify=str(ca_cert), timeout=60
        )
        password = password_file.read_text().strip()
        login = self.http.post("/auth/login", json={"username": username, "password": password})
        if login.status_code != 200:
            raise RuntimeError(f"operator login refused: {login.text}")
        self.http.headers["authorization"] = f"Bearer {login.json()['access_token']}"

    def token_for(self, participant_id: str, *, name: str, organisation: str) -> str:
        """Register the participant if new, and return a fresh one-time enrollment token."""
        created = self.http.post(
            "/participants",
            json={
                "participant_id": participant_id,
                "name": name,
                "organisation": organisation,
                "contact": f"it@{participant_id}.example",
            },
        )
        if created.status_code not in (201, 409):
            raise RuntimeError(f"registering {participant_id} failed: {created.text}")
        token = self.http.post(f"/participants/{participant_id}/enrollment-tokens", json={})
        if token.status_code != 201:
            raise RuntimeError(f"token for {participant_id} refused: {token.text}")
        return str(token.json()["token"])


def enroll_hospital(
    client_bin: Path, *, home: Path, token: str, registry_url: str, ca_cert: Path
) -> None:
    """Run ``consortium-client enroll`` as the hospital would."""
    result = subprocess.run(
        [
            str(client_bin),
            "enroll",
            "--token",
            token,
            "--gateway",
            registry_url,
            "--home",
            str(home),
            "--ca-cert",
            str(ca_cert),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"enrollment in {home} failed: {result.stderr or result.stdout}")
