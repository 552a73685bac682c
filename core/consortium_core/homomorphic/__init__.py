"""Homomorphic-encryption aggregation (``aggregation = "he-ckks"``) with TenSEAL's CKKS.

- :mod:`.settings`: the job's settings, read and checked from its run config;
- :mod:`.ckks`: keys, packing a model into ciphertexts, the weighted sum, decryption;
- :mod:`.keywrap`: sealing the secret key for one participant's certificate, the dealer's
  signature, checking a participant's certificate against the federation's CA.

The protocol that uses them (key setup, rounds) is in ``consortium_tasks.homomorphic``;
``docs/homomorphic.md`` says who holds which key and what happens when a participant leaves.
"""

from __future__ import annotations

from .errors import CiphertextError, HomomorphicConfigError, KeyExchangeError, SecretKeyRefused
from .settings import AGGREGATION_KEY, HE_CKKS, MODEL_RECORD, HomomorphicSettings, aggregation_of

__all__ = [
    "AGGREGATION_KEY",
    "HE_CKKS",
    "MODEL_RECORD",
    "CiphertextError",
    "HomomorphicConfigError",
    "HomomorphicSettings",
    "KeyExchangeError",
    "SecretKeyRefused",
    "aggregation_of",
]
