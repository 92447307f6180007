"""Checks a valid config against the machine before anything runs: inputs, frame sizes, storage, database,
model files and the labels rules watch. ``check-config`` prints them; ``run`` refuses to start on an error."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from detectors.base import DetectorError, ModelUnavailable
from detectors.catalog import resolve_yolo
from detectors.coco import COCO80
from detectors.config import UltralyticsConfig, YoloConfig
from detectors.plugins.yolo_onnx import inspect_export
from detectors.registry import WEAK_FALLBACK, fallback_config
from pipeline.config import InputRole, NonsiteConfig
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
    _labels(config, _detector(config, found), found)
    return found


def _inputs(config: NonsiteConfig, found: Findings) -> None:
    for camera in config.cameras:
        if camera.input_for(InputRole.DETECT).url is not None:
            continue  # a live camera's size is known once it connects; zones are checked against frames then
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


def _detector(config: NonsiteConfig, found: Findings) -> tuple[str, ...] | None:
    """Checks the detector's model file; returns the labels it reports (None: known only once it is loaded)."""
    detector = config.detector
    if isinstance(detector, UltralyticsConfig):
        if not detector.weights.exists():
            found.errors.append(f"detector.weights: {detector.weights} not found (weights are never downloaded)")
        return None
    if isinstance(detector, YoloConfig):
        return _yolo_labels(detector, found)
    if not detector.model_path.is_file():
        found.errors.append(f"detector.model_path: {detector.model_path} not found (run `make models`)")
    return COCO80


def _yolo_labels(detector: YoloConfig, found: Findings) -> tuple[str, ...] | None:
    """A YOLO export is read (not run) here: a segmentation model, a corrupt file or an unregistered name is an
    error now rather than at start-up; a missing one with ``fallback: nanodet`` is a warning."""
    try:
        path, _ = resolve_yolo(detector)
        return inspect_export(path).labels
    except DetectorError as exc:
        if detector.fallback and isinstance(exc, ModelUnavailable):
            found.warnings.append(f"detector: {exc}; {WEAK_FALLBACK}")
            fallback = fallback_config(detector)
            if not fallback.model_path.is_file():
                found.errors.append(f"detector.fallback: {fallback.model_path} not found (run `make models`)")
            return COCO80
        found.errors.append(f"detector: {exc}")
        return None


def _labels(config: NonsiteConfig, labels: tuple[str, ...] | None, found: Findings) -> None:
    """A rule none of whose labels the detector reports can never fire (an error); one that misses only some of
    its labels is weakened (a warning)."""
    if labels is None:
        return
    detector = config.detector
    produced = {detector.class_map.get(label, label) for label in labels} | {STATIC_LABEL}
    if detector.keep_labels is not None:
        produced &= set(detector.keep_labels) | {STATIC_LABEL}
    for index, rule in enumerate(config.rules):
        watched = rule.watched_labels()
        if watched is None:
            continue
        unknown = sorted(watched - produced)
        where = f"rules[{index}] ({rule.name})"
        if unknown and not watched & produced:
            found.errors.append(
                f"{where}: the detector reports none of {sorted(watched)}, so this {rule.kind.value} rule can "
                f"never fire; use a model with {' or '.join(sorted(watched))} among its classes, or set the rule's "
                "`labels` (or the detector's `class_map`)"
            )
        elif unknown:
            found.warnings.append(f"{where}: the detector never reports {unknown}; those labels never match")
