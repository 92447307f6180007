"""Signed manifests: the key on disk, the signature document, and what each tampering is called."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from evidence.locker import EvidenceLocker
from evidence.outbox import Outbox
from evidence.signing import ManifestSigner, SignatureError, SigningKeyError, trusted_keys, verify
from evidence.store import ContentStore
from evidence.types import ArtifactKind
from tests.conftest import make_event

MANIFEST = b'{"artifacts":[],"manifest_version":2}'


def test_the_key_is_made_once_with_mode_0600_and_its_public_half_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "manifest.pem"
    first = ManifestSigner.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ManifestSigner.load_or_create(path).key_id == first.key_id, "a second start uses the same key"
    assert list(trusted_keys(tmp_path / "keys")) == [first.key_id]


def test_a_key_others_can_read_or_that_is_not_ed25519_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "manifest.pem"
    ManifestSigner.load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(SigningKeyError, match="readable by others"):
        ManifestSigner.load(path)
    ecdsa = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(ecdsa)
    path.chmod(0o600)
    with pytest.raises(SigningKeyError, match="not an Ed25519 key"):
        ManifestSigner.load(path)
    path.write_bytes(b"not a key")
    with pytest.raises(SigningKeyError, match="not an unencrypted PEM private key"):
        ManifestSigner.load(path)


def test_a_signature_holds_and_each_tampering_gets_its_own_reason(tmp_path: Path) -> None:
    signer = ManifestSigner.load_or_create(tmp_path / "k.pem")
    trusted = trusted_keys(tmp_path)
    signature = signer.sign(MANIFEST)
    assert verify(MANIFEST, signature, trusted) == signer.key_id

    with pytest.raises(SignatureError, match="different manifest"):
        verify(MANIFEST.replace(b"2", b"3"), signature, trusted)
    doc = json.loads(signature)
    forged = bytearray(base64.b64decode(doc["signature"]))
    forged[0] ^= 1
    with pytest.raises(SignatureError, match="does not match"):
        verify(MANIFEST, json.dumps(doc | {"signature": base64.b64encode(bytes(forged)).decode()}).encode(), trusted)
    other = ManifestSigner.load_or_create(tmp_path / "other" / "k.pem")  # a key nobody trusts, however well formed
    with pytest.raises(SignatureError, match="not a trusted key"):
        verify(MANIFEST, other.sign(MANIFEST), trusted)
    with pytest.raises(SignatureError, match="unsupported signature algorithm"):
        verify(MANIFEST, json.dumps(doc | {"algorithm": "none"}).encode(), trusted)
    with pytest.raises(SignatureError, match="cannot be read"):
        verify(MANIFEST, signature[:-5], trusted)


def test_the_locker_signs_every_manifest_it_seals(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from evidence.types import TimeSource
    from pipeline.evidence_stage import EvidenceStage
    from pipeline.ring_buffer import PacketRingBuffer
    from pipeline.types import Frame

    signer = ManifestSigner.load_or_create(tmp_path / "keys" / "manifest.pem")
    store, outbox = ContentStore(tmp_path / "store"), Outbox(tmp_path / "outbox.sqlite")
    locker = EvidenceLocker(store, outbox, pre_roll_s=1.0, post_roll_s=1.0, signer=signer)
    stage = EvidenceStage(locker, PacketRingBuffer(10.0), lambda: None, {}, [])
    frame = Frame("cam-1", 0, 5.0, datetime(2026, 12, 1, tzinfo=UTC), np.zeros((240, 320, 3), np.uint8), False,
                  TimeSource.CONFIG)  # fmt: skip
    stage.accept([make_event()], frame)
    stage.seal_ready(final=True)
    ((_key, payload),) = outbox.pending()
    kinds = [a["kind"] for a in payload["evidence"]]
    assert kinds[-2:] == [ArtifactKind.MANIFEST.value, ArtifactKind.MANIFEST_SIGNATURE.value]
    manifest, signature = payload["evidence"][-2], payload["evidence"][-1]
    assert signature["parent_sha256"] == manifest["sha256"]
    manifest_bytes = store.read_verified(manifest["sha256"])
    assert verify(manifest_bytes, store.read_verified(signature["sha256"]), trusted_keys(tmp_path / "keys"))
    case = tmp_path / "store" / "cases" / make_event().id
    assert (case / "manifest.json").read_bytes() == manifest_bytes
    assert (case / "manifest.sig").read_bytes() == store.read_verified(signature["sha256"])


@pytest.mark.parametrize("field", ["key_id", "signature", "manifest_sha256", "algorithm"])
@pytest.mark.parametrize("value", [["a list"], 7, None])
def test_a_signature_document_with_fields_of_the_wrong_type_is_refused_by_name(
    tmp_path: Path, field: str, value: object
) -> None:
    signer = ManifestSigner.load_or_create(tmp_path / "k.pem")
    doc = json.loads(signer.sign(MANIFEST)) | {field: value}
    with pytest.raises(SignatureError):  # never a TypeError (a 500 in the API)
        verify(MANIFEST, json.dumps(doc).encode(), trusted_keys(tmp_path))


def test_a_replaced_key_gets_its_own_public_half(tmp_path: Path) -> None:
    path = tmp_path / "manifest.pem"
    first = ManifestSigner.load_or_create(path)
    path.unlink()  # the operator brings another key
    second = ManifestSigner.load_or_create(path)
    assert second.key_id != first.key_id and list(trusted_keys(tmp_path)) == [second.key_id]
