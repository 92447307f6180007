"""Re-hashes a ticket's evidence in the store and checks that a trusted key signed for all of it: an officer must
not confirm what no longer matches its seal."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from api.models import Ticket
from evidence import signing
from evidence.store import ContentStore, EvidenceIntegrityError
from evidence.types import ArtifactKind

SEALS = {ArtifactKind.MANIFEST.value, ArtifactKind.MANIFEST_SIGNATURE.value}


def evidence_problems(store: ContentStore, ticket: Ticket, trusted: dict[str, Ed25519PublicKey]) -> list[str]:
    """One line per problem: an artifact deleted by a legal reviewer (its tombstone), missing from the store or
    whose bytes no longer match its SHA-256; a manifest signature that does not hold under a trusted key, or a
    signed manifest of another violation; a manifest nobody signed; an artifact that no signed manifest lists
    (swapped or added in the database)."""
    problems, contents = [], {}
    deleted = {t.sha256: t for t in ticket.tombstones}
    for artifact in ticket.artifacts:
        if (tombstone := deleted.get(artifact.sha256)) is not None:
            problems.append(f"{artifact.kind} {artifact.sha256[:12]}… was {tombstone.describe()}")
            continue
        try:
            contents[artifact.sha256] = store.read_verified(artifact.sha256)
        except FileNotFoundError:
            problems.append(f"{artifact.kind} {artifact.sha256[:12]}… is missing from the evidence store")
        except EvidenceIntegrityError as exc:
            problems.append(f"{artifact.kind} {artifact.sha256[:12]}…: {exc}")
        except OSError as exc:  # unreadable (permissions, a failing disk): not verified, so not trusted
            problems.append(f"{artifact.kind} {artifact.sha256[:12]}… cannot be read: {exc.strerror or exc}")
    if any(a.kind == ArtifactKind.MANIFEST.value for a in ticket.artifacts):  # sealed by the locker
        problems.extend(_seal_problems(ticket, contents, trusted))
    return problems


def _seal_problems(ticket: Ticket, contents: dict[str, bytes], trusted: dict[str, Ed25519PublicKey]) -> list[str]:
    by_sha = {a.sha256: a for a in ticket.artifacts}
    problems, listed, signed = [], set(), set()
    for signature in [a for a in ticket.artifacts if a.kind == ArtifactKind.MANIFEST_SIGNATURE.value]:
        manifest = by_sha.get(signature.parent_sha256 or "")
        if manifest is None or manifest.kind != ArtifactKind.MANIFEST.value:
            problems.append(f"manifest signature {signature.sha256[:12]}… does not name a manifest of this ticket")
            continue
        if manifest.sha256 not in contents or signature.sha256 not in contents:
            continue  # reported above
        try:
            signing.verify(contents[manifest.sha256], contents[signature.sha256], trusted)
            document = json.loads(contents[manifest.sha256])
            violation_id, artifacts = document["violation"]["id"], document["artifacts"]
            entries = {(a["sha256"], a["kind"]) for a in artifacts}
        except signing.SignatureError as exc:
            problems.append(f"manifest {manifest.sha256[:12]}…: {exc}")
            continue
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"manifest {manifest.sha256[:12]}… is signed but cannot be read: {exc!r}")
            continue
        if violation_id != ticket.violation_id:
            problems.append(f"manifest {manifest.sha256[:12]}… is signed for another violation ({violation_id})")
            continue
        signed.add(manifest.sha256)
        listed |= entries
    for manifest in [a for a in ticket.artifacts if a.kind == ArtifactKind.MANIFEST.value]:
        if manifest.sha256 not in signed and not any(manifest.sha256 in p for p in problems):
            problems.append(f"manifest {manifest.sha256[:12]}… is not signed by a trusted key")
    for artifact in ticket.artifacts:
        if artifact.kind not in SEALS and signed and (artifact.sha256, artifact.kind) not in listed:
            problems.append(f"{artifact.kind} {artifact.sha256[:12]}… is not listed in any signed manifest")
    return problems
