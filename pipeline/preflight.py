"""Checks a valid config against the machine before anything runs: inputs, frame sizes, storage, database,
model files and the labels rules watch. ``check-config`` prints them; ``run`` refuses to start on an error."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from detectors.coco import COCO80
from detectors.config import UltralyticsConfig, YoloConfig
from pipeline.config import InputRole, NonsiteConfig
from pipeline.rules import DEFAULT_LABELS
from pipeline.sources.probe import probe_resolution, zone_problems
from pipeline.static_foreground import STATIC_LABEL

SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass
class Findings:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # An input that cannot be read now: fatal for check-config, but a run goes on with the other cameras.
    unreadable_inputs: list[str] = field(default_factory=list)


def preflight(config: NonsiteConfig, *, check_inputs: bool = True) -> Findings:
    """Everything that would stop or silently weaken a run of this config here and now."""
    found = Findings()
    if check_inputs:
        _inputs(config, found)
    _storage(config, found)
    _database(config, found)
    _detector(config, found)
    _labels(config, found)
    return found


def _inputs(config: NonsiteConfig, found: Findings) -> None:
    for camera in config.cameras:
        missing = [s.path for s in camera.inputs if s.path is not None and not s.path.exists()]
        if missing:
            found.unreadable_inputs += [f"camera {camera.id}: input not found: {path}" for path in missing]
            continue
        resolution = probe_resolution(camera)
        if resolution is None:
            path = camera.input_for(InputRole.DETECT).path
            found.unreadable_inputs.append(f"camera {camera.id}: {path} is not a readable video or image folder")
            continue
        errors, warnings = zone_problems(camera, resolution)
        found.errors += errors
        found.warnings += warnings


def _storage(config: NonsiteConfig, found: Findings) -> None:
    storage = config.storage
    if storage.evidence_dir.exists() and not storage.evidence_dir.is_dir():
        found.errors.append(f"storage.evidence_dir: {storage.evidence_dir} is a file; the evidence store is a folder")
    outbox = storage.outbox_path
    if outbox.is_dir():
        found.errors.append(f"storage.outbox_path: {outbox} is a folder; the outbox is a file (e.g. var/outbox.sqlite)")
    elif outbox.is_file() and outbox.stat().st_size and _head(outbox) != SQLITE_MAGIC:
        found.errors.append(f"storage.outbox_path: {outbox} exists and is not an SQLite outbox")


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(len(SQLITE_MAGIC))


def _database(config: NonsiteConfig, found: Findings) -> None:
    try:
        url = make_url(config.database.url)
    except ArgumentError:
        found.errors.append(f"database.url: {config.database.url!r} is not a SQLAlchemy URL (sqlite:///path.db)")
        return
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        folder = Path(url.database).parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            found.errors.append(f"database.url: {folder} is not a folder, so {url.database} cannot be created")


def _detector(config: NonsiteConfig, found: Findings) -> None:
    detector = config.detector
    if isinstance(detector, UltralyticsConfig):
        if not detector.weights.exists():
            found.errors.append(f"detector.weights: {detector.weights} not found (weights are never downloaded)")
        return
    if not detector.model_path.is_file():
        found.errors.append(f"detector.model_path: {detector.model_path} not found (run `make models`)")


def _labels(config: NonsiteConfig, found: Findings) -> None:
    """Warn about rule labels the detector can never produce: such a rule never fires."""
    detector = config.detector
    if isinstance(detector, UltralyticsConfig | YoloConfig):
        return  # its label set is known only once the model is loaded
    produced = {detector.class_map.get(label, label) for label in COCO80} | {STATIC_LABEL}
    if detector.keep_labels is not None:
        produced &= set(detector.keep_labels) | {STATIC_LABEL}
    for index, rule in enumerate(config.rules):
        labels = rule.labels if rule.labels is not None else DEFAULT_LABELS[rule.kind]
        unknown = sorted(set(labels or []) - produced)
        if unknown:
            found.warnings.append(
                f"rules[{index}] ({rule.name}): the detector never reports {unknown}; those labels never match"
            )
