"""CKKS maths and key handling: the decrypted weighted sum matches the plaintext one within
CKKS precision, the coordinator's loader refuses a secret key, bad ciphertexts are named."""

from __future__ import annotations

import numpy as np
import pytest
from consortium_core.homomorphic import (
    CiphertextError,
    HomomorphicConfigError,
    HomomorphicSettings,
    KeyExchangeError,
    SecretKeyRefused,
)
from consortium_core.homomorphic.ckks import (
    decrypt_vector,
    encrypt_vector,
    key_id,
    load_public_context,
    load_secret_context,
    new_secret_context,
    public_context_bytes,
    secret_context_bytes,
    weighted_sum,
)

SETTINGS = HomomorphicSettings()


@pytest.fixture(scope="module")
def secret():
    return new_secret_context(SETTINGS)


def test_decrypted_weighted_average_matches_plaintext_within_ckks_precision(secret) -> None:
    rng = np.random.default_rng(0)
    updates = [rng.normal(0, 0.5, 10_000) for _ in range(4)]
    counts = [120, 35, 300, 7]
    public = load_public_context(public_context_bytes(secret))
    total = sum(counts)
    encrypted = weighted_sum(
        public,
        [(c / total, encrypt_vector(secret, u)) for c, u in zip(counts, updates, strict=True)],
    )
    expected = sum(c * u for c, u in zip(counts, updates, strict=True)) / total
    decrypted = decrypt_vector(secret, encrypted, expected.size)
    assert np.abs(decrypted - expected).max() < 1e-6
    assert len(encrypted) == 3  # 10,000 values at 4,096 per ciphertext


def test_coordinator_loader_refuses_a_secret_key_and_the_public_context_cannot_decrypt(
    secret,
) -> None:
    with pytest.raises(SecretKeyRefused, match="carries a secret key"):
        load_public_context(secret_context_bytes(secret))
    public = load_public_context(public_context_bytes(secret))
    chunks = encrypt_vector(public, np.ones(10))  # the coordinator can encrypt ...
    with pytest.raises(ValueError, match="secret"):  # ... but never decrypt
        decrypt_vector(public, chunks, 10)
    assert decrypt_vector(secret, chunks, 10) == pytest.approx(np.ones(10), abs=1e-6)


def test_key_id_is_the_same_on_every_holder(secret) -> None:
    copy = load_secret_context(secret_context_bytes(secret))
    assert key_id(public_context_bytes(copy)) == key_id(public_context_bytes(secret))
    other = new_secret_context(SETTINGS)
    assert key_id(public_context_bytes(other)) != key_id(public_context_bytes(secret))
    with pytest.raises(KeyExchangeError, match="no secret key"):
        load_secret_context(public_context_bytes(secret))


def test_a_malformed_update_is_named_and_leaves_the_sum_alone(secret) -> None:
    public = load_public_context(public_context_bytes(secret))
    good = encrypt_vector(secret, np.ones(100))
    with pytest.raises(CiphertextError, match=r"^update 1: ciphertext 0"):
        weighted_sum(public, [(0.5, good), (0.5, [b"not a ciphertext"])])
    with pytest.raises(CiphertextError, match="different lengths"):
        weighted_sum(public, [(0.5, good), (0.5, good + good)])
    with pytest.raises(CiphertextError, match="take 1 ciphertexts, got 2"):
        decrypt_vector(secret, good + good, 100)


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"aggregation": "he"}, "aggregation must be one of plain, secagg+, he-ckks"),
        ({"he-scale-bits": 30}, "he-scale-bits given but aggregation is not he-ckks"),
        ({"aggregation": "he-ckks", "central-dp": "fixed"}, "cannot run with central DP"),
        ({"aggregation": "he-ckks", "contributions": "gtg"}, "contribution scoring"),
        ({"aggregation": "he-ckks", "compression.up": "q8"}, "compression"),
        ({"aggregation": "he-ckks", "strategy": "FedMedian"}, "FedAvg or FedProx"),
        ({"aggregation": "he-ckks", "he-poly-modulus-degree": 4096}, "one of 8192, 16384"),
        ({"aggregation": "he-ckks", "he-rekey": True}, "unknown he-rekey"),
    ],
)
def test_settings_that_cannot_work_are_refused(config: dict, problem: str) -> None:
    with pytest.raises(HomomorphicConfigError, match=problem.replace("+", r"\+")):
        HomomorphicSettings.from_run_config(config)


def test_settings_from_run_config() -> None:
    s = HomomorphicSettings.from_run_config(
        {
            "aggregation": "he-ckks",
            "strategy": "FedProx",
            "he-rekey-on-leave": "false",
            "he-poly-modulus-degree": 16384,
        }
    )
    assert s is not None and not s.rekey_on_leave and s.slots == 8192
