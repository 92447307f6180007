"""A case's export bundle (a zip) and its offline verification: no server, no database, only this file.

Inside the zip::

    bundle.json            the index: the case, every file with its SHA-256 and size, the audit entries' numbers
    bundle.sig.json        Ed25519 signature of bundle.json's exact bytes (the API's audit checkpoint key)
    evidence/KIND-SHA.EXT  every artifact as stored: clip, snapshots, crops, manifest, manifest signature
    audit/entries.jsonl    the case's audit entries, each with its RFC 9162 inclusion proof
    audit/checkpoint.json  the signed checkpoint those proofs lead to
    keys/*.pub             the public keys (manifest keys of the pipeline, the API's checkpoint key)

:func:`verify` runs named checks and says exactly what failed: a flipped byte or a truncated file names the file,
swapped files name both, an edited manifest fails its signature, a removed audit entry names its number. It proves
that nothing changed since the keys signed; whether the keys are the bureau's is the reader's to decide: pass the
bureau's published keys as ``trusted`` (``nonsite verify --keys DIR``) and any other key fails.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence import checkpoints, merkle, signing
from evidence.audit_log import entry_leaf
from evidence.manifest import canonical_bytes
from evidence.types import ArtifactKind

FORMAT = "nonsite case bundle v1"
INDEX, INDEX_SIGNATURE = "bundle.json", "bundle.sig.json"
ENTRIES, CHECKPOINT = "audit/entries.jsonl", "audit/checkpoint.json"
EXTENSIONS = {"video/mp4": "mp4", "image/jpeg": "jpg", "image/png": "png", "application/json": "json"}
DECISIONS = {"confirmed": "ticket.confirmed", "rejected": "ticket.rejected"}


class BundleError(ValueError):
    """The file is not a readable bundle at all (not a zip, truncated, no index)."""


@dataclass(frozen=True)
class Artifact:
    kind: str
    sha256: str
    media_type: str
    data: bytes  # as stored: a damaged file is exported damaged, so that the check names it

    @property
    def path(self) -> str:
        return f"evidence/{self.kind}-{self.sha256}.{EXTENSIONS.get(self.media_type, 'bin')}"


@dataclass(frozen=True)
class Case:
    """Everything an export holds, gathered by the API (api/export.py)."""

    ticket: dict[str, Any]  # id, violation_id, kind, camera, status, decisions …
    artifacts: Sequence[Artifact]
    entries: Sequence[tuple[dict[str, Any], Sequence[bytes]]]  # audit entry, inclusion proof
    checkpoint: bytes
    manifest_keys: dict[str, Ed25519PublicKey]
    exported_at: str
    exported_by: str


def build(case: Case, signer: signing.ManifestSigner) -> bytes:
    """The zip's bytes; the index is signed with ``signer`` (the API's audit checkpoint key)."""
    files: dict[str, bytes] = {a.path: a.data for a in case.artifacts}
    files[ENTRIES] = b"".join(
        canonical_bytes({"entry": entry, "proof": [p.hex() for p in proof]}) + b"\n" for entry, proof in case.entries
    )
    files[CHECKPOINT] = case.checkpoint
    keys = {f"keys/manifest-{kid}.pub": _pem(key) for kid, key in sorted(case.manifest_keys.items())}
    keys[f"keys/audit-{signer.key_id}.pub"] = signer.public_pem()
    files |= keys
    index = canonical_bytes(
        {
            "format": FORMAT,
            "ticket": case.ticket,
            "exported_at": case.exported_at,
            "exported_by": case.exported_by,
            "files": [
                {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                for path, data in sorted(files.items())
            ],
            "artifacts": [{"path": a.path, "kind": a.kind, "sha256": a.sha256} for a in case.artifacts],
            "audit_entries": [entry["seq"] for entry, _ in case.entries],
        }
    )
    signature = canonical_bytes(
        {
            "algorithm": signing.ALGORITHM,
            "key_id": signer.key_id,
            "signature": base64.b64encode(signer.private_key.sign(index)).decode(),
        }
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(INDEX, index)
        archive.writestr(INDEX_SIGNATURE, signature)
        for path, data in sorted(files.items()):
            archive.writestr(path, data)
    return out.getvalue()


def _pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass
class Check:
    name: str
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    detail: str = ""

    def fail(self, problem: str) -> None:
        self.ok = False
        self.problems.append(problem)


CHECKS = (
    "index-signature",
    "keys-trusted",
    "files",
    "manifest-signature",
    "manifest-covers-evidence",
    "audit-checkpoint",
    "audit-inclusion",
    "audit-complete",
    "decision-recorded",
)


def verify(data: bytes, trusted: dict[str, Ed25519PublicKey] | None = None) -> list[Check]:
    """Every check of :data:`CHECKS`, in that order. Raises :class:`BundleError` when ``data`` is no bundle."""
    contents, index = _open(data)
    checks = {name: Check(name) for name in CHECKS}
    bundled = _bundled_keys(contents)
    _check_keys(checks["keys-trusted"], bundled, trusted)
    keys = trusted if trusted is not None else {kid: key for kid, (_, key) in bundled.items()}
    _check_index_signature(checks["index-signature"], contents, keys)
    _check_files(checks["files"], contents, index)
    _check_manifests(checks["manifest-signature"], checks["manifest-covers-evidence"], contents, index, keys)
    _check_audit(checks, contents, index, keys)
    return list(checks.values())


def _open(data: bytes) -> tuple[dict[str, bytes], dict[str, Any]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            contents = {}
            for info in archive.infolist():
                try:
                    contents[info.filename] = archive.read(info)
                except (zipfile.BadZipFile, EOFError, OSError):
                    contents[info.filename] = b""  # damaged inside the zip: the files check names it
        index = json.loads(contents[INDEX])
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise BundleError(f"not a readable zip (damaged or truncated): {exc}") from exc
    except KeyError as exc:
        raise BundleError(f"not a nonsite bundle: {INDEX} is missing") from exc
    except ValueError as exc:
        raise BundleError(f"{INDEX} cannot be read: {exc}") from exc
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise BundleError(f"not a {FORMAT!r} (format {index.get('format') if isinstance(index, dict) else None!r})")
    return contents, index


def _bundled_keys(contents: dict[str, bytes]) -> dict[str, tuple[str, Ed25519PublicKey]]:
    """key id → (file name, key) for every readable Ed25519 key under keys/."""
    found = {}
    for path, data in contents.items():
        if path.startswith("keys/") and path.endswith(".pub"):
            try:
                key = serialization.load_pem_public_key(data)
            except (ValueError, UnsupportedAlgorithm):
                continue
            if isinstance(key, Ed25519PublicKey):
                found[signing.key_id(key)] = (path, key)
    return found


def _check_keys(
    check: Check, bundled: dict[str, tuple[str, Ed25519PublicKey]], trusted: dict[str, Ed25519PublicKey] | None
) -> None:
    names = ", ".join(f"{kid} ({path.removeprefix('keys/')})" for kid, (path, _) in sorted(bundled.items()))
    if trusted is None:
        check.detail = f"checked with the bundle's own keys {names}: compare them with the bureau's published keys"
        return
    check.detail = f"trusted keys: {', '.join(sorted(trusted))}"
    for kid, (path, _) in sorted(bundled.items()):
        if kid not in trusted:
            check.fail(f"{path} (key {kid}) is not one of the trusted keys")


def _check_index_signature(check: Check, contents: dict[str, bytes], keys: dict[str, Ed25519PublicKey]) -> None:
    try:
        doc = json.loads(contents[INDEX_SIGNATURE])
        kid, signature = str(doc["key_id"]), base64.b64decode(doc["signature"], validate=True)
    except (KeyError, ValueError, TypeError, binascii.Error) as exc:
        check.fail(f"{INDEX_SIGNATURE} is missing or cannot be read: {exc!r}")
        return
    key = keys.get(kid)
    if key is None:
        check.fail(f"the index is signed with key {kid}, which is not among the keys")
        return
    try:
        key.verify(signature, contents[INDEX])
    except InvalidSignature:
        check.fail(f"{INDEX} was changed after it was signed (key {kid})")
    check.detail = f"key {kid}"


def _check_files(check: Check, contents: dict[str, bytes], index: dict[str, Any]) -> None:
    listed = {f["path"]: f for f in index.get("files", [])}
    by_hash = {hashlib.sha256(data).hexdigest(): path for path, data in contents.items()}
    for path, entry in sorted(listed.items()):
        data = contents.get(path)
        if data is None:
            check.fail(f"{path} is missing from the bundle")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest == entry["sha256"]:
            continue
        if len(data) < entry["bytes"]:
            check.fail(f"{path} is truncated: {len(data)} of {entry['bytes']} bytes")
        elif (other := by_hash.get(entry["sha256"])) is not None:
            check.fail(f"{path} holds other content: its bytes are in {other} (files swapped)")
        else:
            check.fail(f"{path} was altered: its SHA-256 is {digest[:12]}…, the index says {entry['sha256'][:12]}…")
    for artifact in index.get("artifacts", []):  # damaged in the evidence store before it was exported
        data = contents.get(artifact["path"])
        tampered = any(artifact["path"] in p for p in check.problems)
        if data is not None and not tampered and hashlib.sha256(data).hexdigest() != artifact["sha256"]:
            check.fail(
                f"{artifact['path']} does not hash to its seal {artifact['sha256'][:12]}… "
                + ("(missing from the evidence store at export)" if not data else "(altered in the evidence store)")
            )
    for path in sorted(set(contents) - set(listed) - {INDEX, INDEX_SIGNATURE}):
        check.fail(f"{path} is in the bundle but not in its index (added)")
    check.detail = f"{len(listed)} files"


def _check_manifests(
    signed_check: Check,
    covers_check: Check,
    contents: dict[str, bytes],
    index: dict[str, Any],
    keys: dict[str, Ed25519PublicKey],
) -> None:
    artifacts = index.get("artifacts", [])
    by_sha = {(a["sha256"], a["kind"]): a["path"] for a in artifacts}
    manifests = [a for a in artifacts if a["kind"] == ArtifactKind.MANIFEST.value]
    signatures = [a for a in artifacts if a["kind"] == ArtifactKind.MANIFEST_SIGNATURE.value]
    if not manifests:
        signed_check.fail("the case has no manifest (its evidence was never sealed)")
    listed: set[tuple[str, str]] = set()
    violation_id = index.get("ticket", {}).get("violation_id")
    for manifest in manifests:
        data = contents.get(manifest["path"], b"")
        errors = []
        for signature in signatures:
            try:
                signing.verify(data, contents.get(signature["path"], b""), keys)
            except signing.SignatureError as exc:
                errors.append(str(exc))
                continue
            break
        else:
            signed_check.fail(f"{manifest['path']}: " + ("; ".join(errors) or "no signature"))
            continue
        document = json.loads(data)
        if document["violation"]["id"] != violation_id:
            covers_check.fail(f"{manifest['path']} is signed for another violation ({document['violation']['id']})")
        listed |= {(a["sha256"], a["kind"]) for a in document["artifacts"]}
    signed_check.detail = f"{len(manifests)} manifest(s)"
    if not signed_check.ok:
        covers_check.detail = "not checked: no manifest's signature holds"
        return
    for (sha, kind), path in sorted(by_sha.items()):
        seal = kind in (ArtifactKind.MANIFEST.value, ArtifactKind.MANIFEST_SIGNATURE.value)
        if not seal and (sha, kind) not in listed:
            covers_check.fail(f"{path} is not listed in any signed manifest")


def _check_audit(
    checks: dict[str, Check], contents: dict[str, bytes], index: dict[str, Any], keys: dict[str, Ed25519PublicKey]
) -> None:
    try:
        signed = checkpoints.verify(contents.get(CHECKPOINT, b""), keys)
        checks["audit-checkpoint"].detail = f"{signed.size} entries at {signed.at}, key {signed.key_id}"
    except checkpoints.CheckpointError as exc:
        checks["audit-checkpoint"].fail(str(exc))
        checks["audit-inclusion"].fail("no valid checkpoint to prove the entries against")
        signed = None
    entries = []
    for number, line in enumerate(contents.get(ENTRIES, b"").splitlines(), start=1):
        try:
            item = json.loads(line)
            entries.append((item["entry"], [bytes.fromhex(p) for p in item["proof"]]))
        except (ValueError, KeyError, TypeError) as exc:
            checks["audit-inclusion"].fail(f"line {number} of {ENTRIES} cannot be read: {exc!r}")
    if signed is not None:
        for entry, proof in entries:
            try:
                merkle.verify_inclusion(entry["seq"] - 1, signed.size, entry_leaf(entry), proof, signed.root)
            except (merkle.ProofError, KeyError, TypeError) as exc:
                checks["audit-inclusion"].fail(f"entry {entry.get('seq')} ({entry.get('action')}): {exc}")
    checks["audit-inclusion"].detail = f"{len(entries)} entries"
    present = {entry.get("seq") for entry, _ in entries}
    for seq in index.get("audit_entries", []):
        if seq not in present:
            checks["audit-complete"].fail(f"audit entry {seq} is listed in the index but missing from {ENTRIES}")
    ticket = index.get("ticket", {})
    wanted = DECISIONS.get(ticket.get("status"))
    if wanted and not any(e.get("action") == wanted and e.get("outcome") == "ok" for e, _ in entries):
        checks["decision-recorded"].fail(f"the case is {ticket.get('status')} but no {wanted} entry records who did it")
    if not wanted:
        checks["decision-recorded"].detail = "not decided yet"
