"""Signed checkpoints of the audit log's Merkle tree head: ``(size, root)`` at a moment, signed with Ed25519.

A checkpoint says "the first ``size`` audit entries hash to ``root``". It is canonical JSON (RFC 8785), signed
over the canonical bytes of everything but the signature, and carries the key id and the public key so that a
reader without the server can check it (trusting the key id is the reader's decision: compare it with the
bureau's published keys). The same document sits in the checkpoint file beside the database, in every export
bundle, and behind ``GET /api/v1/audit/checkpoint``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence import signing
from evidence.manifest import canonical_bytes
from evidence.merkle import HASH_SIZE

LOG_ID = "nonsite audit log v1"
FIELDS = ("log", "size", "root", "at", "key_id", "public_key")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, is signed by an untrusted key, or whose signature does not hold."""


@dataclass(frozen=True)
class Checkpoint:
    size: int
    root: bytes
    at: str
    key_id: str
    document: bytes  # the signed canonical JSON, exactly as stored


def sign(signer: signing.ManifestSigner, size: int, root: bytes, at: datetime) -> bytes:
    body = {
        "log": LOG_ID,
        "size": size,
        "root": root.hex(),
        "at": at.isoformat(),
        "key_id": signer.key_id,
        "public_key": signing.public_key_b64(signer.public_key),
    }
    signature = base64.b64encode(signer.private_key.sign(canonical_bytes(body))).decode()
    return canonical_bytes({**body, "signature": signature})


def verify(document: bytes, trusted: dict[str, Ed25519PublicKey] | None = None) -> Checkpoint:
    """The checkpoint in ``document`` if its signature holds. ``trusted`` (key id → key): only those keys are
    accepted; ``None`` checks against the key the document carries (it proves integrity, not who signed)."""
    try:
        doc = json.loads(document)
        body = {k: doc[k] for k in FIELDS}
        signature = base64.b64decode(doc["signature"], validate=True)
        size, root, public = int(body["size"]), bytes.fromhex(body["root"]), body["public_key"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise CheckpointError(f"the checkpoint cannot be read: {exc!r}") from exc
    if body["log"] != LOG_ID:
        raise CheckpointError(f"the checkpoint is of another log ({body['log']!r})")
    if size < 0 or len(root) != HASH_SIZE:
        raise CheckpointError("the checkpoint's size or root is malformed")
    if trusted is None:
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public, validate=True))
        except (ValueError, binascii.Error) as exc:
            raise CheckpointError(f"the checkpoint's public key cannot be read: {exc}") from exc
        if signing.key_id(key) != body["key_id"]:
            raise CheckpointError("the checkpoint's key id does not belong to the public key it carries")
    else:
        found = trusted.get(str(body["key_id"]))
        if found is None:
            raise CheckpointError(f"the checkpoint is signed with key {body['key_id']}, which is not trusted")
        key = found
    try:
        key.verify(signature, canonical_bytes(body))
    except InvalidSignature as exc:
        raise CheckpointError(f"the checkpoint's signature does not hold under key {body['key_id']}") from exc
    return Checkpoint(size=size, root=root, at=str(body["at"]), key_id=str(body["key_id"]), document=document)
