"""Throwaway participant identities for simulations and benchmarks of ``he-ckks`` jobs.

A real participant's identity folder comes from enrolling with the registry (``consortium-client
enroll``); a simulation has no registry, so :func:`make_identities` makes a one-day CA and one
identity folder per participant, laid out the same way (key, certificate, CA certificate), and
returns the node-config entry that points each simulated participant at its folder.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     configs = make_identities(folder, ["h1", "h2"])
...     sorted(p.name for p in Path(configs[0][IDENTITY_HOME]).iterdir())
['ca.pem', 'cert.pem', 'key.pem']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from consortium_core.contracts.node_config import (
    IDENTITY_CA_FILE,
    IDENTITY_CERT_FILE,
    IDENTITY_HOME,
    IDENTITY_KEY_FILE,
)
from consortium_core.homomorphic.keywrap import certificate_pem, issue_for_tests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["make_identities"]


def make_identities(folder: str | Path, participant_ids: Sequence[str]) -> list[dict[str, str]]:
    """One identity folder per participant under ``folder``, signed by a fresh CA; returns
    ``{"identity-home": <folder>}`` per participant, in order."""
    root = Path(folder)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue_for_tests(ca_key, ca_key.public_key(), "simulation-ca", issuer="simulation-ca")
    configs = []
    for participant in participant_ids:
        home = root / participant
        home.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = issue_for_tests(ca_key, key.public_key(), participant, issuer="simulation-ca")
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (home / IDENTITY_KEY_FILE).write_bytes(key_pem)
        (home / IDENTITY_KEY_FILE).chmod(0o600)
        (home / IDENTITY_CERT_FILE).write_text(certificate_pem(cert))
        (home / IDENTITY_CA_FILE).write_text(certificate_pem(ca))
        configs.append({IDENTITY_HOME: str(home)})
    return configs
