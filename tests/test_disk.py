"""A full disk (a real, small tmpfs mounted for the test): evidence on legal hold survives, non-evidence is
pruned first, then refused with 507; a write that fails because the disk is full is a 507 (the pipeline's
outbox keeps it), never a 500; when space comes back, writes are accepted again."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from evidence.store import ContentStore
from evidence.types import ArtifactKind, EventState
from tests.conftest import add_test_users, bearer, key_header, make_event, settings_for
from tests.test_channels import channel, report

MB = 1024 * 1024
SECOND_ID = "22222222-3333-4444-5555-666666666666"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"this machine does not allow mounting a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave_bytes: int) -> Path:
    """A file that leaves about ``leave_bytes`` free on the disk (not evidence: somebody else's data)."""
    filler = disk / f"filler-{time.monotonic_ns()}"
    with filler.open("wb") as out:
        while (free := shutil.disk_usage(disk).free) > leave_bytes:
            try:
                out.write(b"\0" * min(MB, free - leave_bytes))
                out.flush()
            except OSError:
                break
    return filler


def _settings(root: Path, tmp_path: Path) -> Settings:
    return settings_for(
        tmp_path,
        database_url=f"sqlite:///{root / 'api.db'}",
        evidence_dir=root / "evidence",
        audit_dir=root / "audit",
        disk_low_mb=8,
        disk_reserve_mb=4,
    )


def test_a_full_disk_keeps_held_evidence_prunes_non_evidence_and_answers_507(small_disk: Path, tmp_path: Path) -> None:
    from tests.conftest import upgrade

    settings = _settings(small_disk, tmp_path)
    upgrade(settings)
    add_test_users(settings)
    app = create_app(settings)
    app.state.disk.cache_s = 0  # measure on every request: the test changes the disk between them
    client = TestClient(app)
    store = ContentStore(settings.evidence_dir)
    clip = store.put(os.urandom(MB), kind=ArtifactKind.ORIGINAL_CLIP, media_type="video/mp4")
    start = make_event(evidence=(clip,)).to_dict()
    assert client.post("/api/v1/tickets", json=start, headers=key_header(start)).status_code == 201  # on hold
    reported = client.put("/api/v1/channels", json=report(channel("cam-1")), headers=bearer("pipeline"))
    assert reported.status_code == 204
    quarantined = settings.evidence_dir / "quarantine" / "20261101T000000Z" / "leftover"
    quarantined.parent.mkdir(parents=True)
    quarantined.write_bytes(os.urandom(2 * MB))
    assert client.get("/healthz").json()["status"] == "ok"

    first = _fill(small_disk, 5 * MB)  # low: the quarantine goes first (then 7 MB free: still low)
    health = client.get("/healthz").json()
    assert not quarantined.exists() and store.read_verified(clip.sha256)
    assert health["status"] == "degraded" and any("low" in p for p in health["problems"]), health

    second = _fill(small_disk, 2 * MB)  # below the reserve: non-evidence refused, evidence still filed
    snapshot = client.put(
        "/api/v1/channels/cam-1/snapshot",
        content=b"\xff\xd8\xff jpeg",
        headers={"Content-Type": "image/jpeg", **bearer("pipeline")},
    )
    assert snapshot.status_code == 507 and "reserve" in snapshot.json()["detail"]
    assert any("refused" in p for p in client.get("/healthz").json()["problems"])
    update = make_event(state=EventState.UPDATE, evidence=(clip,), revision=1, end_s=9.0).to_dict()
    assert client.post("/api/v1/tickets", json=update, headers=key_header(update)).status_code == 200

    third = _fill(small_disk, 0)  # nothing left: every write fails at the disk, each is a 507
    later = make_event(SECOND_ID, evidence=(clip,)).to_dict()
    refused = [client.post("/api/v1/tickets", json=later, headers=key_header(later)) for _ in range(3)]
    assert {r.status_code for r in refused} == {507}, [r.text for r in refused]
    assert "nothing was stored" in refused[0].json()["detail"]
    assert client.get("/api/v1/tickets/1", headers=bearer("officer")).status_code in (200, 507)  # a view is audited
    assert store.read_verified(clip.sha256)  # held evidence survived it all

    for filler in (first, second, third):
        filler.unlink()
    assert client.post("/api/v1/tickets", json=later, headers=key_header(later)).status_code == 201
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/api/v1/tickets/1", headers=bearer("officer")).json()["end_s"] == 9.0
