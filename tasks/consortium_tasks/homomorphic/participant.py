"""The participant's side of a ``he-ckks`` job: its key store, key setup, encrypted training.

The job's secret key lives in this participant's Flower ``Context`` (the runtime keeps one per
run, in memory; it is never written to disk), as the serialized secret context under its key
id; the last :data:`KEYS_KEPT` keys are kept (the previous one re-encrypts the global model
when a fresh key is dealt). The participant's identity folder (``identity-home`` in the node
config, set by the client runtime from its enrolled identity) gives the certificate it shows,
the private key that opens a key sealed for it, and the federation's CA that every dealer's
certificate is checked against.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tenseal as ts
import torch
from consortium_core.contracts.node_config import (
    IDENTITY_CA_FILE,
    IDENTITY_CERT_FILE,
    IDENTITY_HOME,
    IDENTITY_KEY_FILE,
    JOB_ID,
)
from consortium_core.homomorphic import CiphertextError, HomomorphicSettings, KeyExchangeError
from consortium_core.homomorphic.ckks import (
    check_fits,
    decrypt_vector,
    encrypt_vector,
    flatten,
    key_id,
    load_secret_context,
    new_secret_context,
    public_context_bytes,
    secret_context_bytes,
    unflatten,
)
from consortium_core.homomorphic.keywrap import (
    certificate_pem,
    check_participant_certificate,
    open_sealed,
    seal_for,
    sign,
    verify_signature,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from torch import nn

from .protocol import (
    KEYS_RECORD,
    MODEL_RECORD,
    STAGE_DEAL,
    STAGE_IDENTIFY,
    STAGE_INSTALL,
    UPDATE_RECORD,
    EncryptedModel,
    sealing_label,
    signed_statement,
)

__all__ = ["KEYS_KEPT", "answer_key_setup", "decrypt_state", "train_encrypted"]

log = logging.getLogger(__name__)
KEYS_KEPT = 2
_STATE_RECORD = "he-ckks-keys"

Fit = Callable[
    [Mapping[str, torch.Tensor], Mapping[str, Any], Context],
    tuple[nn.Module, dict[str, float], int],
]


@dataclass(frozen=True)
class _Identity:
    participant_id: str
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    ca: x509.Certificate


def _identity(node_config: Mapping[str, Any]) -> _Identity:
    home = node_config.get(IDENTITY_HOME)
    if not home:
        raise KeyExchangeError(
            "aggregation he-ckks needs participants with an enrolled identity (consortium-client "
            "enroll, then run over tls://): the job's secret key is sealed for each "
            "participant's certificate"
        )
    folder = Path(str(home))
    try:
        key = serialization.load_pem_private_key(
            (folder / IDENTITY_KEY_FILE).read_bytes(), password=None
        )
        cert = x509.load_pem_x509_certificate((folder / IDENTITY_CERT_FILE).read_bytes())
        ca = x509.load_pem_x509_certificate((folder / IDENTITY_CA_FILE).read_bytes())
    except (OSError, ValueError) as exc:
        raise KeyExchangeError(f"cannot read the identity in {folder}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyExchangeError(f"the identity key in {folder} is not an EC key")
    _, participant = check_participant_certificate(certificate_pem(cert), ca)
    return _Identity(participant_id=participant, key=key, certificate=cert, ca=ca)


def _job_id(context: Context) -> str:
    return str(context.node_config.get(JOB_ID, f"run-{context.run_id}"))


class _KeyStore:
    """This participant's keys for one run, in the run's ``Context.state``."""

    def __init__(self, context: Context) -> None:
        if _STATE_RECORD not in context.state:
            context.state[_STATE_RECORD] = ConfigRecord({"order": []})
        self._record = context.state.config_records[_STATE_RECORD]

    def held(self) -> list[str]:
        return [str(k) for k in self._record["order"]]  # type: ignore[union-attr]

    def keep(self, key: str, secret: bytes) -> None:
        order = [k for k in self.held() if k != key] + [key]
        for old in order[:-KEYS_KEPT]:
            del self._record[old]
        self._record[key] = secret
        self._record["order"] = order[-KEYS_KEPT:]

    def secret(self, key: str) -> ts.Context:
        if key not in self.held():
            raise KeyExchangeError(
                f"this participant does not hold key {key[:12]} of the job (it restarted, or "
                "joined after the key was dealt); the coordinator deals it again next round"
            )
        return load_secret_context(self._record[key])  # type: ignore[arg-type]


def answer_key_setup(msg: Message, context: Context) -> Message:
    """Answer a ``query.he-keys`` message (identify, deal or install)."""
    record = msg.content.config_records.get(KEYS_RECORD)
    stage = record.get("stage") if record is not None else None
    store = _KeyStore(context)
    me = _identity(context.node_config)
    if stage == STAGE_IDENTIFY:
        answer = {"certificate": certificate_pem(me.certificate), "holds": store.held()}
    elif stage == STAGE_DEAL:
        answer = _deal(record, context, store, me)
    elif stage == STAGE_INSTALL:
        answer = _install(record, context, store, me)
    else:
        raise KeyExchangeError(f"unknown he-keys stage {stage!r}")
    return Message(RecordDict({KEYS_RECORD: ConfigRecord(answer)}), reply_to=msg)


def _deal(record: ConfigRecord, context: Context, store: _KeyStore, me: _Identity) -> dict:
    settings = HomomorphicSettings.from_run_config(context.run_config)
    if settings is None:
        raise KeyExchangeError("this job does not run he-ckks")
    job = _job_id(context)
    reencrypted: list[bytes] = []
    if record.get("fresh"):
        secret = new_secret_context(settings)
        if record.get("model-key-id"):  # the global model moves to the new key
            model = EncryptedModel.from_record(
                ConfigRecord(
                    {
                        "key-id": record["model-key-id"],
                        "chunks": record["model-chunks"],
                        "size": record["model-size"],
                    }
                )
            )
            flat = decrypt_vector(store.secret(model.key_id), model.chunks, model.size)
            reencrypted = encrypt_vector(secret, flat)
        secret_bytes = secret_context_bytes(secret)
    else:
        secret_bytes = secret_context_bytes(store.secret(str(record["key-id"])))
        secret = load_secret_context(secret_bytes)
    public = public_context_bytes(secret)
    key = key_id(public)
    store.keep(key, secret_bytes)
    sealed: list[bytes] = []
    refused: list[str] = []
    for pem in record.get("recipients", []):  # type: ignore[union-attr]
        try:
            cert, participant = check_participant_certificate(pem, me.ca)
            sealed.append(
                seal_for(cert, secret_bytes, associated=sealing_label(job, key, participant))
            )
            refused.append("")
        except KeyExchangeError as exc:
            sealed.append(b"")
            refused.append(str(exc))
    log.info("dealt he-ckks key %s for %d participant(s)", key[:12], len(sealed))
    return {
        "key-id": key,
        "public-context": public,
        "signature": sign(me.key, signed_statement(job, key)),
        "dealer-certificate": certificate_pem(me.certificate),
        "sealed": sealed,
        "refused": refused,
        "model-chunks": reencrypted,
    }


def _install(record: ConfigRecord, context: Context, store: _KeyStore, me: _Identity) -> dict:
    job, key = _job_id(context), str(record["key-id"])
    dealer, dealer_id = check_participant_certificate(str(record["dealer-certificate"]), me.ca)
    verify_signature(dealer, bytes(record["signature"]), signed_statement(job, key))  # type: ignore[arg-type]
    secret_bytes = open_sealed(
        me.key,
        bytes(record["sealed"]),
        associated=sealing_label(job, key, me.participant_id),  # type: ignore[arg-type]
    )
    secret = load_secret_context(secret_bytes)
    if key_id(public_context_bytes(secret)) != key:
        raise KeyExchangeError("the sealed key is not the key the dealer signed")
    store.keep(key, secret_bytes)
    log.info("installed he-ckks key %s dealt by %s", key[:12], dealer_id)
    return {"key-id": key}


def decrypt_state(msg: Message, context: Context, like: Mapping[str, torch.Tensor]) -> OrderedDict:
    """The global model a message carries encrypted, as a state dict shaped like ``like``."""
    model = EncryptedModel.from_record(msg.content.config_records[MODEL_RECORD])
    flat = decrypt_vector(_KeyStore(context).secret(model.key_id), model.chunks, model.size)
    if not np.isfinite(flat).all():
        raise CiphertextError(
            "the global model decrypted to non-finite values (an update under another key, "
            "or a corrupt one, entered the sum)"
        )
    arrays = unflatten(flat, [t.detach().cpu().numpy() for t in like.values()])
    return OrderedDict((name, torch.from_numpy(a)) for name, a in zip(like, arrays, strict=True))


def train_encrypted(
    msg: Message, context: Context, fit: Fit, like: Mapping[str, torch.Tensor]
) -> Message:
    """Decrypt the global model, train it, and reply with the trained model encrypted."""
    model = EncryptedModel.from_record(msg.content.config_records[MODEL_RECORD])
    secret = _KeyStore(context).secret(model.key_id)
    state = decrypt_state(msg, context, like)
    trained, metrics, count = fit(state, msg.content["config"], context)
    flat = flatten(t.detach().cpu().numpy() for t in trained.state_dict().values())
    settings = HomomorphicSettings.from_run_config(context.run_config) or HomomorphicSettings()
    check_fits(flat, settings)  # a value too large would wrap around silently under CKKS
    update = EncryptedModel(model.key_id, encrypt_vector(secret, flat), flat.size)
    content = RecordDict(
        {
            UPDATE_RECORD: update.to_record(),
            "metrics": MetricRecord({**metrics, "num-examples": count}),
        }
    )
    return Message(content=content, reply_to=msg)
