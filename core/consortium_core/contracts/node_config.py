"""Node-config keys the client runtime sets itself, for every run, before a ClientApp sees it.

A participant's own keys (``consortium-client run --node-config``) are merged under these: when
both name the same key, the runtime's value wins, so nothing passed in can point a ClientApp at
another privacy ledger or limit than the participant's own. A job never writes node config
(what a job sends is its run config), so a ClientApp must read these keys from
``context.node_config`` only.

>>> sorted(RUNTIME_KEYS)  # doctest: +NORMALIZE_WHITESPACE
['identity-home', 'job-id', 'privacy-accountant', 'privacy-delta', 'privacy-epsilon-limit',
 'privacy-ledger']
"""

from __future__ import annotations

__all__ = [
    "IDENTITY_CA_FILE",
    "IDENTITY_CERT_FILE",
    "IDENTITY_HOME",
    "IDENTITY_KEY_FILE",
    "JOB_ID",
    "PRIVACY_ACCOUNTANT",
    "PRIVACY_DELTA",
    "PRIVACY_EPSILON_LIMIT",
    "PRIVACY_LEDGER",
    "RUNTIME_KEYS",
]

JOB_ID = "job-id"
"""The coordinator's id of the job this run belongs to (str)."""
PRIVACY_LEDGER = "privacy-ledger"
"""Path of the participant's privacy ledger file (str)."""
PRIVACY_EPSILON_LIMIT = "privacy-epsilon-limit"
"""The participant's own epsilon limit (float); absent when the participant set none."""
PRIVACY_DELTA = "privacy-delta"
"""The delta at which the ledger composes what was spent (float)."""
PRIVACY_ACCOUNTANT = "privacy-accountant"
"""The accountant the ledger composes with, ``prv`` or ``rdp`` (str)."""

IDENTITY_HOME = "identity-home"
"""The participant's identity folder (str), absent when it runs without one: its private key
(:data:`IDENTITY_KEY_FILE`), certificate and the federation's CA certificate. ``he-ckks`` jobs
use it to receive the job's secret key sealed for this participant."""
IDENTITY_KEY_FILE = "key.pem"
IDENTITY_CERT_FILE = "cert.pem"
IDENTITY_CA_FILE = "ca.pem"

RUNTIME_KEYS = frozenset(
    {
        JOB_ID,
        PRIVACY_LEDGER,
        PRIVACY_EPSILON_LIMIT,
        PRIVACY_DELTA,
        PRIVACY_ACCOUNTANT,
        IDENTITY_HOME,
    }
)
