"""CKKS with TenSEAL: keys, packing a model into ciphertexts, the weighted sum, decryption.

A model (a list of arrays) is flattened to one float64 vector and packed ``slots`` values per
ciphertext, so a model of any size fits: a ResNet-18 (11.7 M values) is 2,857 ciphertexts at
the default 8,192 polynomial degree. Each ciphertext travels as its own bytes.

Who holds what: participants hold the *secret* context (the secret key, able to decrypt); the
coordinator holds only the *public* context, loaded through :func:`load_public_context`, which
refuses bytes that carry a secret key. With the public key the coordinator can encrypt (the
public initial model) and form ``sum_k w_k * E(x_k)``; it can never decrypt.

>>> from consortium_core.homomorphic.settings import HomomorphicSettings
>>> import numpy as np
>>> secret = new_secret_context(HomomorphicSettings())
>>> public = load_public_context(public_context_bytes(secret))
>>> public.is_private()
False
>>> a, b = np.full(5000, 0.25), np.linspace(-1, 1, 5000)
>>> total = weighted_sum(public, [(0.75, encrypt_vector(secret, a)),
...                               (0.25, encrypt_vector(secret, b))])
>>> len(total)  # 5000 values, 4096 per ciphertext
2
>>> bool(np.abs(decrypt_vector(secret, total, 5000) - (0.75 * a + 0.25 * b)).max() < 1e-5)
True
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence

import numpy as np
import tenseal as ts

from .errors import CiphertextError, KeyExchangeError, SecretKeyRefused
from .settings import HomomorphicSettings

__all__ = [
    "check_fits",
    "chunk_count",
    "decrypt_vector",
    "encrypt_vector",
    "flatten",
    "key_id",
    "load_public_context",
    "load_secret_context",
    "new_secret_context",
    "public_context_bytes",
    "secret_context_bytes",
    "unflatten",
    "weighted_sum",
]


def new_secret_context(settings: HomomorphicSettings) -> ts.Context:
    """A fresh CKKS key pair for a job (created by a participant, never by the coordinator)."""
    context = ts.context(
        ts.SCHEME_TYPE.CKKS,
        poly_modulus_degree=settings.poly_modulus_degree,
        coeff_mod_bit_sizes=list(settings.coeff_mod_bit_sizes),
        n_threads=1,
    )
    context.global_scale = 2.0**settings.scale_bits
    return context


def secret_context_bytes(context: ts.Context) -> bytes:
    """The secret context as bytes, to be sealed for another participant."""
    if not context.is_private():
        raise KeyExchangeError("this context holds no secret key")
    return context.serialize(
        save_public_key=True, save_secret_key=True, save_galois_keys=False, save_relin_keys=False
    )


def public_context_bytes(context: ts.Context) -> bytes:
    """The public part only (parameters and public key): what the coordinator may hold."""
    public = context.copy()
    public.make_context_public()
    return public.serialize(
        save_public_key=True, save_secret_key=False, save_galois_keys=False, save_relin_keys=False
    )


def key_id(public: bytes) -> str:
    """A key's name: the SHA-256 of its public context bytes (the same on every holder)."""
    return hashlib.sha256(public).hexdigest()


def load_public_context(data: bytes) -> ts.Context:
    """The coordinator's only way to load a context; bytes carrying a secret key are refused
    (:class:`SecretKeyRefused`) and never kept."""
    context = _load(data)
    if context.is_private():
        del context
        raise SecretKeyRefused(
            "refused a CKKS context that carries a secret key: the coordinator holds public "
            "keys only"
        )
    return context


@functools.lru_cache(maxsize=8)
def load_secret_context(data: bytes) -> ts.Context:
    """A participant's copy of the job's secret context (the last few loaded are kept: loading
    one takes about 30 ms, and a round uses it several times)."""
    context = _load(data)
    if not context.is_private():
        raise KeyExchangeError("the key sealed for this participant holds no secret key")
    return context


def _load(data: bytes) -> ts.Context:
    try:
        return ts.context_from(bytes(data))
    except (ValueError, RuntimeError, TypeError) as exc:
        raise KeyExchangeError(f"not a CKKS context: {exc}") from exc


def chunk_count(size: int, slots: int) -> int:
    """How many ciphertexts ``size`` values take.

    >>> chunk_count(11_689_512, 4096), chunk_count(0, 4096)
    (2854, 0)
    """
    return -(-size // slots)


def flatten(arrays: Iterable[np.ndarray]) -> np.ndarray:
    """The arrays' values, in order, as one float64 vector."""
    parts = [np.asarray(a, dtype=np.float64).ravel() for a in arrays]
    return np.concatenate(parts) if parts else np.zeros(0)


def unflatten(flat: np.ndarray, like: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Cut ``flat`` back into arrays shaped and typed as ``like`` (integers are rounded).

    >>> [a.tolist() for a in unflatten(np.array([1.0, 2.0, 2.9]), [np.zeros(2), np.zeros(1, int)])]
    [[1.0, 2.0], [3]]
    """
    expected = sum(int(np.prod(a.shape)) for a in like)
    if flat.size != expected:
        raise CiphertextError(f"the model has {expected} values, the decrypted one {flat.size}")
    out, start = [], 0
    for a in like:
        n = int(np.prod(a.shape))
        part = flat[start : start + n].reshape(a.shape)
        if not np.issubdtype(a.dtype, np.floating):
            part = np.rint(part)
        out.append(part.astype(a.dtype))
        start += n
    return out


def check_fits(flat: np.ndarray, settings: HomomorphicSettings) -> None:
    """Refuse values CKKS would silently wrap around at these settings: after the weighting's
    rescale, a value times ``2**scale_bits`` must stay below the last 60-bit prime, so
    ``|value|`` must be below ``2**(59 - scale_bits)`` (524,288 at the default 40 bits); NaN
    and infinity are refused too.

    >>> check_fits(np.array([1.0, -3e5]), HomomorphicSettings())
    >>> check_fits(np.array([1.0, 6e5]), HomomorphicSettings())
    Traceback (most recent call last):
    ...
    consortium_core.homomorphic.errors.CiphertextError: a model value of magnitude 6e+05 does \
not fit CKKS at he-scale-bits 40 (the limit is 5.243e+05); lower he-scale-bits
    """
    if flat.size == 0:
        return
    if not np.isfinite(flat).all():
        raise CiphertextError("the model holds NaN or infinite values; nothing was encrypted")
    largest = float(np.abs(flat).max())
    limit = 2.0 ** (59 - settings.scale_bits)
    if largest >= limit:
        raise CiphertextError(
            f"a model value of magnitude {largest:.4g} does not fit CKKS at he-scale-bits "
            f"{settings.scale_bits} (the limit is {limit:.4g}); lower he-scale-bits"
        )


def encrypt_vector(context: ts.Context, flat: np.ndarray) -> list[bytes]:
    """Encrypt ``flat`` as ``ceil(len / slots)`` ciphertexts, each serialized on its own."""
    slots = _slots(context)
    values = np.asarray(flat, dtype=np.float64)
    return [
        ts.ckks_vector(context, values[start : start + slots]).serialize()
        for start in range(0, values.size, slots)
    ]


def decrypt_vector(context: ts.Context, chunks: Sequence[bytes], size: int) -> np.ndarray:
    """Decrypt ciphertexts made by :func:`encrypt_vector` (or summed) back to ``size`` values."""
    if chunk_count(size, _slots(context)) != len(chunks):
        raise CiphertextError(
            f"{size} values take {chunk_count(size, _slots(context))} ciphertexts, got "
            f"{len(chunks)}"
        )
    parts = [
        np.asarray(_vector(context, c, i).decrypt(), dtype=np.float64) for i, c in enumerate(chunks)
    ]
    flat = np.concatenate(parts) if parts else np.zeros(0)
    if flat.size != size:
        raise CiphertextError(f"expected {size} values, the ciphertexts hold {flat.size}")
    return flat


def weighted_sum(
    context: ts.Context, updates: Sequence[tuple[float, Sequence[bytes]]]
) -> list[bytes]:
    """``sum_k w_k * x_k`` over encrypted updates ``(w_k, chunks_k)``, still encrypted.

    Every update must have the same number of ciphertexts. Each is decoded and weighted whole
    before it is added, so an undecodable one raises :class:`CiphertextError` (naming its
    position) without touching the sum.
    """
    if not updates:
        raise CiphertextError("no encrypted updates to add")
    lengths = {len(chunks) for _, chunks in updates}
    if len(lengths) != 1:
        raise CiphertextError(f"updates of different lengths: {sorted(lengths)} ciphertexts")
    total: list[ts.CKKSVector] | None = None
    for position, (weight, chunks) in enumerate(updates):
        try:
            weighted = [_vector(context, c, i) * float(weight) for i, c in enumerate(chunks)]
        except CiphertextError as exc:
            raise CiphertextError(f"update {position}: {exc}") from exc
        if total is None:
            total = weighted
        else:
            for acc, part in zip(total, weighted, strict=True):
                acc += part
    assert total is not None
    return [v.serialize() for v in total]


def _vector(context: ts.Context, chunk: bytes, index: int) -> ts.CKKSVector:
    try:
        return ts.ckks_vector_from(context, bytes(chunk))
    except (ValueError, RuntimeError, TypeError) as exc:
        raise CiphertextError(
            f"ciphertext {index} is not a CKKS vector of this key: {exc}"
        ) from exc


def _slots(context: ts.Context) -> int:
    return context.seal_context().data.first_context_data().parms().poly_modulus_degree() // 2
