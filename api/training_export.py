"""Officers' decisions as training data: reviewed tickets → labelled images in the ``../shared/data`` format.

Each decided ticket gives one labelled box: its key frame (the sealed original snapshot, hash-checked) and the
box the rule fired on. A confirmation labels the object as what the rule said it was; a rejection labels it as
*not* that (``review_rejected_*``): the officer saw no violation, which is what a classifier's false alarms look
like. ``models/train_truck_cover.py --data OUT`` trains on the confirmed trucks and counts how many rejected
ones a head would have called "uncovered"; ``nonsite eval OUT`` scores detectors on them.

The export holds personal data (faces, plates) from enforcement footage: it is for the bureau's own training
machines, under the same access rules as the evidence.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.models import Decision, DecisionAction, Ticket
from evidence.store import ContentStore, EvidenceIntegrityError, atomic_write
from evidence.types import ArtifactKind, ViolationKind

# (violation kind, decision) → the dataset class of the box (the first column: the classes ../shared/data uses).
CLASSES: dict[tuple[str, str], str] = {
    (ViolationKind.MUCK_TRUCK.value, DecisionAction.CONFIRM.value): "truck_loaded_uncovered",
    (ViolationKind.MUCK_TRUCK.value, DecisionAction.REJECT.value): "review_rejected_muck_truck",
    (ViolationKind.STREET_STALL.value, DecisionAction.CONFIRM.value): "goods_outside_shop",
    (ViolationKind.STREET_STALL.value, DecisionAction.REJECT.value): "review_rejected_street_stall",
    (ViolationKind.SHARED_BIKE_MISPARKED.value, DecisionAction.CONFIRM.value): "shared_bike_parked",
    (ViolationKind.SHARED_BIKE_MISPARKED.value, DecisionAction.REJECT.value): "review_rejected_shared_bike",
}
FOLDER = "reviewed"
LABEL_FIELDS = ("file", "class", "x1", "y1", "x2", "y2")
DETAIL_FIELDS = (*LABEL_FIELDS, "attributes", "ticket", "camera", "decided_at", "reason", "model")


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote: rows per class, and tickets left out with the reason."""

    rows: int
    classes: dict[str, int]
    skipped: dict[str, int]  # why tickets were left out → how many


def export_reviewed(session: Session, store: ContentStore, out: Path) -> ExportReport:
    """Write ``out/reviewed/{labels.csv, labels_detail.csv, export.json, images/}``; rerunning rewrites the
    labels from the database as it is now (images are named by their hash, so they are written once)."""
    folder = out / FOLDER
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, str]] = []
    skipped: Counter[str] = Counter()
    tickets = session.scalars(select(Ticket).where(Ticket.decisions.any()).order_by(Ticket.id))
    for ticket in tickets:
        decision: Decision = ticket.decisions[-1]  # the latest decision stands
        label = CLASSES.get((ticket.kind, decision.action))
        snapshot = next((a for a in ticket.artifacts if a.kind == ArtifactKind.SNAPSHOT.value), None)
        if label is None:
            skipped[f"kind {ticket.kind} / {decision.action} has no training class"] += 1
            continue
        if snapshot is None:
            skipped["no sealed key frame (snapshot)"] += 1
            continue
        try:
            image = store.read_verified(snapshot.sha256)
            box = _key_frame_box(ticket, store)
        except (EvidenceIntegrityError, FileNotFoundError, OSError, ValueError):
            skipped["key frame or manifest missing or failing its hash check"] += 1
            continue
        if box is None:
            skipped["box on the key frame unknown (no manifest, and later events moved it)"] += 1
            continue
        file = f"{FOLDER}/images/{snapshot.sha256}.jpg"
        target = out / file
        if not target.is_file():
            atomic_write(target, image)
        rows.append(_row(ticket, decision, label, file, box))
    _write_csv(folder / "labels.csv", LABEL_FIELDS, rows)
    _write_csv(folder / "labels_detail.csv", DETAIL_FIELDS, rows)
    classes = dict(Counter(row["class"] for row in rows))
    record = {
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": len(rows),
        "classes": classes,
        "skipped": dict(skipped),
        "note": "Enforcement footage with personal data: keep under the evidence's access rules.",
    }
    atomic_write(folder / "export.json", (json.dumps(record, ensure_ascii=False, indent=1) + "\n").encode())
    return ExportReport(len(rows), classes, dict(skipped))


def _key_frame_box(ticket: Ticket, store: ContentStore) -> list[float] | None:
    """The box on the key frame: the sealed manifest's (the start's record). ``ticket.violation`` is the newest
    event, whose box is from a later frame, so it is used only while no later event has arrived."""
    manifest = next((a for a in ticket.artifacts if a.kind == ArtifactKind.MANIFEST.value), None)
    if manifest is not None:
        box = json.loads(store.read_verified(manifest.sha256))["violation"]["box"]
    elif ticket.revision == 0:
        box = ticket.violation.get("box")
    else:
        return None
    if not (isinstance(box, list) and len(box) == 4):
        raise ValueError(f"ticket {ticket.id}: the box {box!r} is not [x1, y1, x2, y2]")
    return [float(v) for v in box]


def _row(ticket: Ticket, decision: Decision, label: str, file: str, box: list[float]) -> dict[str, str]:
    x1, y1, x2, y2 = (f"{float(v):.1f}" for v in box)
    attributes = ticket.violation.get("attributes") or {}
    detector = next(
        (m.get("model_id", "") for m in (ticket.violation.get("provenance") or {}).get("models", [])
         if m.get("role") == "detector"),
        "",
    )  # fmt: skip
    return {
        "file": file,
        "class": label,
        "x1": x1,
        "y1": y1,
        "x2": x2,
        "y2": y2,
        "attributes": json.dumps({"label": ticket.label, **attributes}, ensure_ascii=False, sort_keys=True),
        "ticket": str(ticket.id),
        "camera": ticket.camera,
        "decided_at": decision.decided_at.isoformat(timespec="seconds"),
        "reason": decision.reason,
        "model": detector,
    }


def _write_csv(path: Path, fields: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, text.getvalue().encode("utf-8"))
