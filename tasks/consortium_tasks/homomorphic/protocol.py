"""What travels in a ``he-ckks`` job: record names, stages, and the encrypted global model.

Messages (Flower message API), all content ciphertexts or public material:

- ``query.he_keys`` with record ``he-keys`` (``stage``):

  - ``identify``: a participant answers with its certificate and the key ids it holds;
  - ``deal``: one participant (the dealer) seals the job's secret key for the listed
    recipients' certificates; with ``fresh`` it first makes a new key (and re-encrypts the
    global model it is given under it); it answers with the public context, the key id, its
    signature and the sealed keys;
  - ``install``: a recipient opens its sealed key, checks the dealer's certificate and
    signature, and keeps the key;

- ``train`` with records ``config`` and ``he-model`` (the encrypted global model); the reply
  carries ``he-update`` (the participant's encrypted model after training) and ``metrics``
  (``num-examples``: the public weight);
- ``query.he_evaluate`` with ``he-model``: the participant decrypts the model and scores it on
  the task's public held-out test set;
- ``query.membership`` / ``query.personalize`` after training carry ``he-model`` instead of
  ``arrays``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from consortium_core.homomorphic import MODEL_RECORD, CiphertextError
from flwr.app import Array, ArrayRecord, ConfigRecord, Message

__all__ = [
    "EVALUATE_ACTION",
    "KEYS_ACTION",
    "KEYS_RECORD",
    "MODEL_RECORD",
    "UPDATE_RECORD",
    "EncryptedModel",
    "carries_encrypted_model",
    "sealing_label",
    "signed_statement",
]

KEYS_ACTION = "he_keys"
EVALUATE_ACTION = "he_evaluate"
KEYS_RECORD = "he-keys"
UPDATE_RECORD = "he-update"
STAGE_IDENTIFY, STAGE_DEAL, STAGE_INSTALL = "identify", "deal", "install"
CHECKPOINT_PREFIX = "he-ckks."


def signed_statement(job_id: str, key_id: str) -> bytes:
    """What the dealer signs: this key is the job's key.

    >>> signed_statement("j1", "ab")
    b'consortium/he-ckks/job-key/v1\\nj1\\nab'
    """
    return f"consortium/he-ckks/job-key/v1\n{job_id}\n{key_id}".encode()


def sealing_label(job_id: str, key_id: str, participant_id: str) -> bytes:
    """The associated data a secret key is sealed under, binding job, key and recipient."""
    return f"{job_id}\n{key_id}\n{participant_id}".encode()


def carries_encrypted_model(message: Message) -> bool:
    """Whether ``message`` carries a ``he-ckks`` global model."""
    return message.has_content() and MODEL_RECORD in message.content.config_records


@dataclass(frozen=True)
class EncryptedModel:
    """A model (or an update) as CKKS ciphertexts under key ``key_id``, ``size`` values."""

    key_id: str
    chunks: list[bytes]
    size: int

    @property
    def nbytes(self) -> int:
        """The ciphertexts' total size."""
        return sum(len(c) for c in self.chunks)

    def to_record(self) -> ConfigRecord:
        """As a ``ConfigRecord`` (bytes travel as they are)."""
        return ConfigRecord({"key-id": self.key_id, "chunks": self.chunks, "size": self.size})

    @classmethod
    def from_record(cls, record: object) -> EncryptedModel:
        """Read one back; anything malformed raises :class:`CiphertextError`.

        >>> EncryptedModel.from_record(EncryptedModel("k", [b"x"], 1).to_record()).size
        1
        >>> EncryptedModel.from_record(ConfigRecord({"key-id": "k"}))
        Traceback (most recent call last):
        ...
        consortium_core.homomorphic.errors.CiphertextError: not an encrypted model: ...
        """
        try:
            assert isinstance(record, ConfigRecord)
            key, chunks, size = record["key-id"], record["chunks"], record["size"]
            assert isinstance(key, str) and isinstance(size, int) and size >= 0
            assert isinstance(chunks, list) and all(isinstance(c, bytes) for c in chunks)
        except (AssertionError, KeyError) as exc:
            raise CiphertextError(
                "not an encrypted model: needs key-id (str), chunks (list of bytes), size (int)"
            ) from exc
        return cls(key_id=key, chunks=list(chunks), size=size)

    def to_arrays(self) -> ArrayRecord:
        """As arrays of bytes, for the coordinator's checkpoint (the model stays encrypted).

        >>> model = EncryptedModel("k1", [b"ab", b"c"], 5)
        >>> EncryptedModel.from_arrays(model.to_arrays()) == model
        True
        """
        lengths = np.array([len(c) for c in self.chunks] + [self.size], dtype=np.int64)
        return ArrayRecord(
            {
                CHECKPOINT_PREFIX + "ciphertexts": Array(
                    np.frombuffer(b"".join(self.chunks), dtype=np.uint8)
                ),
                CHECKPOINT_PREFIX + "lengths-then-size": Array(lengths),
                CHECKPOINT_PREFIX + "key-id": Array(
                    np.frombuffer(self.key_id.encode(), dtype=np.uint8)
                ),
            }
        )

    @classmethod
    def from_arrays(cls, record: ArrayRecord) -> EncryptedModel:
        """Read a checkpoint written by :meth:`to_arrays`."""
        data = record[CHECKPOINT_PREFIX + "ciphertexts"].numpy().tobytes()
        lengths = record[CHECKPOINT_PREFIX + "lengths-then-size"].numpy().tolist()
        key = record[CHECKPOINT_PREFIX + "key-id"].numpy().tobytes().decode()
        chunks, start = [], 0
        for n in lengths[:-1]:
            chunks.append(data[start : start + n])
            start += n
        return cls(key_id=key, chunks=chunks, size=int(lengths[-1]))
