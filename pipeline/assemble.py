"""Builds a camera's runner parts from the config: the one place that wires concrete classes together."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import IO

from detectors.attributes.annotate import AttributeAnnotator
from detectors.coco import LARGE_VEHICLES
from evidence.locker import EvidenceLocker
from evidence.outbox import Outbox
from evidence.signing import ManifestSigner
from evidence.store import ContentStore
from evidence.types import ViolationEvent, ViolationKind
from pipeline.analysis import CameraAnalysis
from pipeline.attribute_step import AttributeStep
from pipeline.config import CameraConfig, NonsiteConfig, RuleConfig, ZoneKind
from pipeline.coverage import AnalysedTime
from pipeline.plate_step import PlateStep
from pipeline.rules import EventContext, Rule
from pipeline.runtime import CameraParts
from pipeline.shared_models import SharedModels, step_parameters
from pipeline.sources.factory import open_source
from pipeline.static_foreground import StaticForeground
from pipeline.tracking import Tracker


def build_parts(
    config: NonsiteConfig,
    camera_id: str,
    models: SharedModels,
    config_sha256: str,
    outbox: Outbox,
    source_override: Path | None = None,
) -> CameraParts:
    camera = config.camera(camera_id)
    camera_rules = [r for r in config.rules if r.camera == camera.id]
    plates = None
    wants_plates = any(r.kind is ViolationKind.MUCK_TRUCK for r in camera_rules)
    if camera.read_plates or (camera.read_plates is None and wants_plates):
        plates = PlateStep(
            models.plates, labels=watched_group(camera_rules, ViolationKind.MUCK_TRUCK) or LARGE_VEHICLES
        )
    attributes = attribute_step(camera_rules, models)
    source = open_source(camera, source_override)
    parameters: dict[str, object] = {
        "detector": config.detector.model_dump(mode="json"),
        "tracker": config.tracker.model_dump(mode="json"),
        "attributes": step_parameters(attributes) | (asdict(attributes.annotator.bike) if attributes else {}),
        "plates": step_parameters(plates) | ({"min_confidence": models.plates.min_confidence} if plates else {}),
    }
    context = EventContext(
        camera_id=camera.id,
        origin_id=source.origin_id,
        provenance=models.provenance(
            config_sha256, plates=plates is not None, cover=attributes is not None, parameters=parameters
        ),
        timezone=config.timezone,
    )
    zones = {z.name: z for z in camera.zones}
    parking = [z for z in camera.zones if z.kind is ZoneKind.BIKE_PARKING]
    rules = [Rule.build(r, zones[r.zone], context, parking) for r in camera_rules]
    crop_regions = []
    if camera.detect_on_zone_crops:
        crop_regions = sorted({rule.zone.bounding_xyxy for rule in rules})
    storage = config.storage
    locker = EvidenceLocker(
        ContentStore(storage.evidence_dir),
        outbox,
        storage.pre_roll_s,
        storage.post_roll_s,
        ManifestSigner.load_or_create(storage.signing_key),
    )
    analysis = CameraAnalysis(
        tracker=Tracker(config.tracker, camera.fps),
        rules=rules,
        crop_regions=crop_regions,
        plates=plates,
        attributes=attributes,
        static_foreground=static_foreground(camera, camera_rules),
        nms_iou=config.detector.nms_iou,
    )
    return CameraParts(
        source=source,
        analysis=analysis,
        locker=locker,
        fps=camera.fps,
        zones={rule.zone.name: rule.zone.polygon for rule in rules},
        pre_roll_s=storage.pre_roll_s,
        post_roll_s=storage.post_roll_s,
        analysed_time=AnalysedTime(
            {r.name: r.schedule for r in camera_rules}, config.timezone, credit_cap_s=credit_cap_s(camera.fps)
        ),
    )


def credit_cap_s(fps: float) -> float:
    """The longest gap between analysed frames still counted as watched: three analysis intervals, at least
    2 s. A longer gap (a stall, a reconnect, an overloaded box) is time the rule was not enforced."""
    return max(3.0 / fps, 2.0)


def attribute_step(rules: list[RuleConfig], models: SharedModels) -> AttributeStep | None:
    """Cover and bike classifiers for a camera whose rules use them (muck trucks, shared bikes)."""
    users = [r for r in rules if r.kind in (ViolationKind.MUCK_TRUCK, ViolationKind.SHARED_BIKE_MISPARKED)]
    if not users:
        return None
    return AttributeStep(
        AttributeAnnotator(
            cover=models.cover,
            truck_labels=watched_group(rules, ViolationKind.MUCK_TRUCK),
            bike_labels=watched_group(rules, ViolationKind.SHARED_BIKE_MISPARKED),
        ),
        min_confidence=min(r.min_confidence for r in users),
    )


def watched_group(rules: list[RuleConfig], kind: ViolationKind) -> frozenset[str]:
    """Every label the camera's rules of ``kind`` count (their class groups together)."""
    return frozenset(label for r in rules if r.kind is kind for label in (r.watched_labels() or ()))


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
        self._stream.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
        self._stream.flush()
