"""Officers' decisions become training data: reviewed tickets exported as labels, then used by the trainer."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.settings import Settings
from evidence.manifest import build_manifest, canonical_bytes
from evidence.signing import ManifestSigner
from evidence.store import ContentStore
from evidence.types import ArtifactKind, EventState, ViolationKind
from pipeline.cli import main
from pipeline.evaluation import REVIEW_REJECTED_TRUCK, load_labels
from tests.conftest import DATA, REPO, key_header, make_event, needs_data, violation_payload

DECISION = {"reason": "load visible from the gantry camera"}


def _truck_ticket(
    client: TestClient, store: ContentStore, keys: Path, violation_id: str, label_class: str
) -> dict[str, Any]:
    """A muck-truck ticket whose key frame is a real labelled truck photo, boxed as labelled, with its sealed
    manifest; then an update from a later frame, where the truck has moved on."""
    (label,) = [x for x in load_labels(DATA) if x.cls == label_class][:1]
    assert label.box is not None
    record = store.put((DATA / label.file).read_bytes(), kind=ArtifactKind.SNAPSHOT, media_type="image/jpeg")
    start = make_event(violation_id, kind=ViolationKind.MUCK_TRUCK, label="truck", box=label.box)
    manifest_bytes = canonical_bytes(build_manifest(start, (record,)))
    manifest = store.put(manifest_bytes, kind=ArtifactKind.MANIFEST, media_type="application/json")
    signature = store.put(  # signed as the locker signs, with a key the API trusts
        ManifestSigner.load_or_create(keys / "pipeline.pem").sign(manifest_bytes),
        kind=ArtifactKind.MANIFEST_SIGNATURE,
        media_type="application/json",
        parent_sha256=manifest.sha256,
    )
    payload = start.to_dict() | {"evidence": [record.to_dict(), manifest.to_dict(), signature.to_dict()]}
    response = client.post("/api/v1/tickets", json=payload, headers=key_header(payload))
    assert response.status_code == 201, response.text
    moved = tuple(v + 300 for v in label.box)
    update = make_event(violation_id, EventState.UPDATE, 1, kind=ViolationKind.MUCK_TRUCK, label="truck", box=moved)
    payload = update.to_dict() | {"evidence": [record.to_dict(), manifest.to_dict()]}
    assert client.post("/api/v1/tickets", json=payload, headers=key_header(payload)).status_code in (200, 201)
    ticket: dict[str, Any] = response.json()
    return ticket


@needs_data
def test_confirmed_and_rejected_tickets_become_labelled_boxes_the_trainer_uses(
    client: TestClient, api_settings: Settings, tmp_path: Path, capsys
) -> None:
    store = ContentStore(api_settings.evidence_dir)
    uncovered = _truck_ticket(
        client, store, api_settings.trusted_keys_dir, "11111111-0000-0000-0000-000000000001", "truck_loaded_uncovered"
    )
    covered = _truck_ticket(
        client, store, api_settings.trusted_keys_dir, "11111111-0000-0000-0000-000000000002", "truck_covered_net"
    )
    _truck_ticket(
        client, store, api_settings.trusted_keys_dir, "11111111-0000-0000-0000-000000000003", "truck_covered_tarp"
    )  # not reviewed
    assert client.post(f"/api/v1/tickets/{uncovered['id']}/confirm", json=DECISION).status_code == 200
    assert client.post(f"/api/v1/tickets/{covered['id']}/reject", json=DECISION).status_code == 200
    out = tmp_path / "export"
    args = ["training", "export", "--database-url", api_settings.database_url,
            "--evidence-dir", str(api_settings.evidence_dir), "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert "2 reviewed tickets exported" in capsys.readouterr().out

    labels = {label.cls: label for label in load_labels(out)}
    assert set(labels) == {"truck_loaded_uncovered", REVIEW_REJECTED_TRUCK}, "pending tickets are not labels"
    exported = labels["truck_loaded_uncovered"]
    (source,) = [x for x in load_labels(DATA) if x.cls == "truck_loaded_uncovered"][:1]
    assert exported.box == source.box, "the box on the key frame (the manifest's), not the update's"
    image = (out / exported.file).read_bytes()
    assert image == (DATA / source.file).read_bytes(), "the sealed key frame itself, byte for byte"
    assert Path(exported.file).stem == hashlib.sha256(image).hexdigest()
    first = (out / "reviewed" / "labels_detail.csv").read_text(encoding="utf-8")
    cells = {cell for row in csv.reader(io.StringIO(first)) for cell in row}
    assert "load visible from the gantry camera" in cells and "officer" not in cells, "reasons, not names"

    assert main(args) == 0, "rerunning is idempotent"
    assert (out / "reviewed" / "labels_detail.csv").read_text(encoding="utf-8") == first

    sys.path.insert(0, str(REPO / "models"))
    import train_truck_cover

    head = tmp_path / "head.json"
    assert train_truck_cover.main(["--data", str(DATA), "--data", str(out), "--out", str(head)]) == 0
    training = json.loads(head.read_text(encoding="utf-8"))["training"]
    assert exported.file in training["images"], "the confirmed truck is a training example"
    assert training["review_rejected"]["total"] == 1
    assert training["review_rejected"]["called_uncovered"] == 0, "the costly error: a covered load called uncovered"


def test_an_evidence_file_that_fails_its_hash_is_left_out_and_said_so(
    client: TestClient, api_settings: Settings, tmp_path: Path, capsys
) -> None:
    store = ContentStore(api_settings.evidence_dir)
    record = store.put(b"\xff\xd8 a jpeg", kind=ArtifactKind.SNAPSHOT, media_type="image/jpeg")
    payload = violation_payload(evidence=[record.to_dict()])
    ticket = client.post("/api/v1/tickets", json=payload, headers=key_header(payload)).json()
    assert client.post(f"/api/v1/tickets/{ticket['id']}/confirm", json=DECISION).status_code == 200
    path = store.path_for(record.sha256)
    path.chmod(0o644)
    path.write_bytes(b"altered")
    out = tmp_path / "export"
    code = main(["training", "export", "--database-url", api_settings.database_url,
                 "--evidence-dir", str(api_settings.evidence_dir), "--out", str(out)])  # fmt: skip
    assert code == 0
    assert "skipped 1: key frame or manifest missing or failing its hash check" in capsys.readouterr().out
    assert load_labels(out) == []


def test_a_database_without_tickets_or_a_missing_store_is_a_clear_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "evidence").mkdir()
    base = ["training", "export", "--database-url", f"sqlite:///{tmp_path / 'empty.db'}", "--out", str(tmp_path / "o")]
    assert main([*base, "--evidence-dir", str(tmp_path / "evidence")]) == 2
    assert "has no tickets" in capsys.readouterr().err
    assert main([*base, "--evidence-dir", str(tmp_path / "evidnece")]) == 2
    assert "no evidence store at" in capsys.readouterr().err
