"""Builds a camera's runner parts from the config: the one place that wires concrete classes together."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from detectors.attributes.annotate import BIKE_LABELS, AttributeAnnotator
from detectors.base import Detector
from detectors.plates.reader import PlateReader
from evidence.locker import EvidenceLocker
from evidence.outbox import Outbox
from evidence.store import ContentStore
from evidence.types import ViolationEvent, ViolationKind
from pipeline.attribute_step import AttributeStep
from pipeline.config import CameraConfig, NonsiteConfig, RuleConfig, ZoneKind
from pipeline.plate_step import PlateStep
from pipeline.rules import EventContext, Rule
from pipeline.runner import RunnerParts
from pipeline.sources.factory import open_source
from pipeline.static_foreground import StaticForeground
from pipeline.tracking import Tracker


def build_parts(
    config: NonsiteConfig,
    camera_id: str,
    detector: Detector,
    config_sha256: str,
    outbox: Outbox,
    source_override: Path | None = None,
) -> RunnerParts:
    camera = config.camera(camera_id)
    context = EventContext(
        camera_id=camera.id,
        model_id=detector.info.model_id,
        model_sha256=detector.info.sha256,
        config_sha256=config_sha256,
        timezone=config.timezone,
    )
    zones = {z.name: z for z in camera.zones}
    rules = [Rule.build(r, zones[r.zone], context) for r in config.rules if r.camera == camera.id]
    crop_regions = []
    if camera.detect_on_zone_crops:
        crop_regions = [rule.zone.bounding_xyxy for rule in rules]
        crop_regions = sorted(set(crop_regions))
    plates = None
    wants_plates = any(r.kind is ViolationKind.MUCK_TRUCK for r in config.rules if r.camera == camera.id)
    if camera.read_plates or (camera.read_plates is None and wants_plates):
        plates = PlateStep(PlateReader(threads=config.detector.threads))
    storage = config.storage
    locker = EvidenceLocker(ContentStore(storage.evidence_dir), outbox, storage.pre_roll_s, storage.post_roll_s)
    return RunnerParts(
        source=open_source(camera, source_override),
        detector=detector,
        tracker=Tracker(config.tracker, camera.fps),
        rules=rules,
        locker=locker,
        crop_regions=crop_regions,
        plates=plates,
        attributes=attribute_step([r for r in config.rules if r.camera == camera.id]),
        static_foreground=static_foreground(camera, [r for r in config.rules if r.camera == camera.id]),
        nms_iou=config.detector.nms_iou,
        pre_roll_s=storage.pre_roll_s,
        post_roll_s=storage.post_roll_s,
    )


def attribute_step(rules: list[RuleConfig]) -> AttributeStep | None:
    """Cover and bike classifiers for a camera whose rules use them (muck trucks, shared bikes)."""
    users = [r for r in rules if r.kind in (ViolationKind.MUCK_TRUCK, ViolationKind.SHARED_BIKE_MISPARKED)]
    if not users:
        return None
    bike_rules = [r for r in users if r.kind is ViolationKind.SHARED_BIKE_MISPARKED]
    bike_labels = frozenset(label for r in bike_rules for label in (r.labels or BIKE_LABELS)) or BIKE_LABELS
    return AttributeStep(
        AttributeAnnotator(bike_labels=bike_labels), min_confidence=min(r.min_confidence for r in users)
    )


def static_foreground(camera: CameraConfig, rules: list[RuleConfig]) -> StaticForeground | None:
    """Background modelling on the no_vending zones that a street_stall rule watches."""
    if not camera.static_foreground.enabled:
        return None
    watched = {r.zone for r in rules if r.kind is ViolationKind.STREET_STALL}
    zones = [list(z.polygon) for z in camera.zones if z.name in watched and z.kind is ZoneKind.NO_VENDING]
    return StaticForeground(camera.static_foreground, zones) if zones else None


class JsonlEventWriter:
    """Writes one JSON line per violation event, flushed at once so nothing is lost on a crash."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def __call__(self, event: ViolationEvent) -> None:
        row = event.to_dict()
        line = {
            key: row[key]
            for key in (
                "id",
                "kind",
                "state",
                "camera",
                "zone",
                "rule",
                "track_id",
                "label",
                "start_s",
                "end_s",
                "box",
                "captured_at",
                "attributes",
                "plate",
            )
        }
        line["evidence"] = row["evidence"]
        self._stream.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._stream.flush()
