"""Export bundles and their offline verification: a sealed, confirmed case exports and verifies; every way of
altering the zip afterwards gives its own named failure; ``nonsite export`` / ``nonsite verify`` from a shell."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from evidence import bundle
from evidence.manifest import canonical_bytes
from evidence.signing import ManifestSigner
from evidence.store import ContentStore
from evidence.types import ArtifactKind
from tests.conftest import add_test_users, bearer, key_header, make_event, settings_for

CLIP = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8
STILL = b"\xff\xd8\xff\xe0 the key frame" + bytes(64)


@pytest.fixture
def sealed_case(tmp_path: Path) -> dict[str, Any]:
    """A case with a clip, a snapshot, a signed manifest listing both, confirmed by an officer."""
    settings = settings_for(tmp_path)
    add_test_users(settings)
    store = ContentStore(settings.evidence_dir)
    signer = ManifestSigner.load_or_create(settings.trusted_keys_dir / "pipeline.pem")
    clip = store.put(CLIP, kind=ArtifactKind.ORIGINAL_CLIP, media_type="video/mp4")
    still = store.put(STILL, kind=ArtifactKind.SNAPSHOT, media_type="image/jpeg")
    event = make_event()
    manifest_bytes = canonical_bytes(
        {"manifest_version": 2, "violation": {"id": event.id}, "artifacts": [clip.to_dict(), still.to_dict()]}
    )
    manifest = store.put(manifest_bytes, kind=ArtifactKind.MANIFEST, media_type="application/json")
    signature = store.put(
        signer.sign(manifest_bytes),
        kind=ArtifactKind.MANIFEST_SIGNATURE,
        media_type="application/json",
        parent_sha256=manifest.sha256,
    )
    start = make_event(evidence=(clip, still, manifest, signature)).to_dict()
    client = TestClient(create_app(settings))
    ticket = client.post("/api/v1/tickets", json=start, headers=key_header(start)).json()
    confirm = {"reason": "stall on the pavement, seen on the clip"}
    assert client.post(f"/api/v1/tickets/{ticket['id']}/confirm", json=confirm, headers=bearer("officer")).is_success
    response = client.get(f"/api/v1/tickets/{ticket['id']}/export", headers=bearer("auditor"))
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    return {"client": client, "settings": settings, "ticket": ticket, "zip": response.content, "store": store}


def _names(checks: list[bundle.Check]) -> list[str]:
    return [c.name for c in checks if not c.ok]


def test_a_sealed_confirmed_case_exports_and_verifies(sealed_case: dict[str, Any]) -> None:
    checks = bundle.verify(sealed_case["zip"])
    assert _names(checks) == [], [c.problems for c in checks]
    with zipfile.ZipFile(io.BytesIO(sealed_case["zip"])) as archive:
        names = archive.namelist()
        entries = [json.loads(line)["entry"] for line in archive.read(bundle.ENTRIES).splitlines()]
    assert any(n.startswith("evidence/original_clip-") and n.endswith(".mp4") for n in names)
    assert {bundle.INDEX, bundle.INDEX_SIGNATURE, bundle.CHECKPOINT} <= set(names)
    assert [e["action"] for e in entries] == ["ticket.created", "ticket.confirmed", "ticket.exported"]
    assert entries[1]["actor"] == "officer" and entries[2]["actor"] == "auditor"


def _rewrite(data: bytes, change: Callable[[dict[str, bytes]], None]) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    change(files)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


def _path(files: dict[str, bytes], prefix: str) -> str:
    return next(name for name in files if name.startswith(prefix))


def _flip(files: dict[str, bytes]) -> None:
    name = _path(files, "evidence/original_clip-")
    data = bytearray(files[name])
    data[len(data) // 2] ^= 0x01
    files[name] = bytes(data)


def _truncate(files: dict[str, bytes]) -> None:
    name = _path(files, "evidence/original_clip-")
    files[name] = files[name][:100]


def _swap(files: dict[str, bytes]) -> None:
    clip, still = _path(files, "evidence/original_clip-"), _path(files, "evidence/snapshot-")
    files[clip], files[still] = files[still], files[clip]


def _edit_manifest(files: dict[str, bytes]) -> None:
    name = _path(files, "evidence/manifest-")
    files[name] = files[name].replace(b'"manifest_version":2', b'"manifest_version":3')


def _remove_entry(files: dict[str, bytes]) -> None:
    lines = files[bundle.ENTRIES].splitlines(keepends=True)
    files[bundle.ENTRIES] = b"".join(line for line in lines if b"ticket.confirmed" not in line)


def _edit_index(files: dict[str, bytes]) -> None:
    files[bundle.INDEX] = files[bundle.INDEX].replace(b'"status":"confirmed"', b'"status":"rejected"')


def _add_file(files: dict[str, bytes]) -> None:
    files["evidence/snapshot-extra.jpg"] = b"\xff\xd8 planted"


@pytest.mark.parametrize(
    ("change", "failed", "named", "words"),
    [
        pytest.param(_flip, {"files"}, "files", "was altered", id="flipped-byte"),
        pytest.param(_truncate, {"files"}, "files", "truncated", id="truncated-file"),
        pytest.param(_swap, {"files"}, "files", "files swapped", id="swapped-clips"),
        pytest.param(
            _edit_manifest, {"files", "manifest-signature"}, "manifest-signature", "different manifest", id="manifest"
        ),
        pytest.param(
            _remove_entry,
            {"files", "audit-complete", "decision-recorded"},  # entries.jsonl's hash changed too
            "audit-complete",
            "missing from",
            id="removed-entry",
        ),
        pytest.param(
            _edit_index,
            {"index-signature", "decision-recorded"},
            "index-signature",
            "changed after it was signed",
            id="edited-index",
        ),
        pytest.param(_add_file, {"files"}, "files", "not in its index", id="added-file"),
    ],
)
def test_each_alteration_of_the_bundle_has_its_own_named_failure(
    sealed_case: dict[str, Any],
    change: Callable[[dict[str, bytes]], None],
    failed: set[str],
    named: str,
    words: str,
) -> None:
    checks = bundle.verify(_rewrite(sealed_case["zip"], change))
    assert set(_names(checks)) == failed
    problems = next(c for c in checks if c.name == named).problems
    assert any(words in p for p in problems), problems


def _drop_index(files: dict[str, bytes]) -> None:
    del files[bundle.INDEX]


def test_a_truncated_zip_is_not_a_bundle(sealed_case: dict[str, Any]) -> None:
    with pytest.raises(bundle.BundleError, match="not a readable zip"):
        bundle.verify(sealed_case["zip"][: len(sealed_case["zip"]) // 2])
    with pytest.raises(bundle.BundleError, match="missing"):
        bundle.verify(_rewrite(sealed_case["zip"], _drop_index))


def test_evidence_damaged_in_the_store_is_exported_as_it_is_and_named(sealed_case: dict[str, Any]) -> None:
    store, ticket = sealed_case["store"], sealed_case["ticket"]
    clip = next(a for a in ticket["artifacts"] if a["kind"] == "original_clip")
    path = store.path_for(clip["sha256"])
    path.chmod(0o644)
    path.write_bytes(CLIP[:-1] + b"\x00")
    response = sealed_case["client"].get(f"/api/v1/tickets/{ticket['id']}/verification", headers=bearer("auditor"))
    body = response.json()
    assert response.status_code == 200 and body["ok"] is False
    (files,) = [c for c in body["checks"] if not c["ok"]]
    assert files["name"] == "files" and "altered in the evidence store" in files["problems"][0]


def test_the_server_side_verification_runs_the_same_checks(sealed_case: dict[str, Any]) -> None:
    client, ticket = sealed_case["client"], sealed_case["ticket"]
    body = client.get(f"/api/v1/tickets/{ticket['id']}/verification", headers=bearer("auditor")).json()
    assert body["ok"] is True and [c["name"] for c in body["checks"]] == list(bundle.CHECKS)
    assert client.get(f"/api/v1/tickets/{ticket['id']}/verification", headers=bearer("officer")).status_code == 403


def _nonsite(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, timeout=120)


def test_export_and_verify_from_a_shell(sealed_case: dict[str, Any], tmp_path: Path) -> None:
    settings = sealed_case["settings"]
    out = tmp_path / "case.zip"
    server = [
        "--database-url",
        settings.database_url,
        "--evidence-dir",
        str(settings.evidence_dir),
        "--keys-dir",
        str(settings.trusted_keys_dir),
        "--audit-dir",
        str(settings.audit_dir),
    ]
    exported = _nonsite("export", str(sealed_case["ticket"]["id"]), "--out", str(out), *server)
    assert exported.returncode == 0, exported.stderr
    verified = _nonsite("verify", str(out))
    assert verified.returncode == 0 and "verified: all 9 checks passed" in verified.stdout, verified.stdout
    trusted = tmp_path / "bureau-keys"
    trusted.mkdir()
    for key in (settings.trusted_keys_dir / "pipeline.pub", settings.audit_dir / "checkpoint.pub"):
        (trusted / key.name).write_bytes(key.read_bytes())
    assert _nonsite("verify", str(out), "--keys", str(trusted)).returncode == 0
    (trusted / "pipeline.pub").unlink()  # the manifest's key is not the bureau's
    untrusted = _nonsite("verify", str(out), "--keys", str(trusted), "--json")
    report = json.loads(untrusted.stdout)
    assert untrusted.returncode == 1 and report["ok"] is False
    assert {c["name"] for c in report["checks"] if not c["ok"]} == {"keys-trusted", "manifest-signature"}
    out.write_bytes(_rewrite(out.read_bytes(), _flip))
    flipped = _nonsite("verify", str(out))
    assert flipped.returncode == 1 and "FAIL  files" in flipped.stdout and "NOT VERIFIED" in flipped.stdout
    garbage = tmp_path / "not-a-bundle.zip"
    garbage.write_bytes(b"hello")
    broken = _nonsite("verify", str(garbage))
    assert broken.returncode == 2 and "not a readable zip" in broken.stderr and "Traceback" not in broken.stderr
    missing = _nonsite("export", "999", "--out", str(tmp_path / "x.zip"), *server)
    assert missing.returncode == 2 and "there is no ticket 999" in missing.stderr


def test_the_audit_commands_verify_and_checkpoint(sealed_case: dict[str, Any]) -> None:
    settings = sealed_case["settings"]
    server = ["--database-url", settings.database_url, "--audit-dir", str(settings.audit_dir)]
    signed = _nonsite("audit", "checkpoint", *server)
    assert signed.returncode == 0 and "checkpoint:" in signed.stdout, signed.stderr
    intact = _nonsite("audit", "verify", *server)
    assert intact.returncode == 0 and "intact" in intact.stdout
    leaves = settings.audit_dir / "leaves"
    leaves.write_bytes(leaves.read_bytes()[:32])
    broken = _nonsite("audit", "verify", *server)
    assert broken.returncode == 1 and "NOT INTACT" in broken.stdout and "mirror was truncated" in broken.stdout
