"""Seals a violation's evidence: stills at once, the clip once post-roll has arrived, then the manifest."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from evidence.clips import ClipError, EncodedPacket, RecordStreamParams, cut_clip, validate_clip
from evidence.manifest import build_manifest, canonical_bytes
from evidence.outbox import Outbox
from evidence.signing import ManifestSigner
from evidence.snapshots import annotate, crop, encode_jpeg
from evidence.store import ContentStore, atomic_write
from evidence.types import ArtifactKind, EventState, EvidenceRecord, ViolationEvent
from evidence.wire import ViolationWire

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlateStill:
    """The vehicle's plate as best seen so far (the most confident read, from whichever frame gave it)."""

    image: npt.NDArray[np.uint8]  # the plate's full extent with a small margin, BGR
    pts_s: float  # stream time of the frame it was cut from

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.size == 0:
            raise ValueError(f"a plate still must be a non-empty (H, W, 3) image, got {self.image.shape}")


@dataclass(frozen=True)
class PendingCase:
    """Stills are sealed; the clip waits until the stream has passed ``clip_end_s``."""

    event: ViolationEvent
    stills: tuple[EvidenceRecord, ...]
    clip_start_s: float
    clip_end_s: float


class EvidenceLocker:
    def __init__(
        self,
        store: ContentStore,
        outbox: Outbox,
        pre_roll_s: float,
        post_roll_s: float,
        signer: ManifestSigner | None = None,
    ) -> None:
        """``signer``: each manifest is signed, the signature stored as its own artifact right after it."""
        self.store = store
        self.signer = signer
        self.outbox = outbox
        self.pre_roll_s = pre_roll_s
        self.post_roll_s = post_roll_s
        self.cases_dir = store.root / "cases"

    def open_case(
        self,
        event: ViolationEvent,
        image: npt.NDArray[np.uint8],
        polygon: list[tuple[float, float]] | None = None,
        plate: PlateStill | None = None,
    ) -> PendingCase:
        """Seal the key frame, its annotated copy, the object crop and the plate crop now, while they are in hand.

        A store that cannot be written (disk full, read-only) loses no violation: the case goes on without
        stills, with a note saying why.
        """
        window = (max(0.0, event.key_frame_pts_s - self.pre_roll_s), event.key_frame_pts_s + self.post_roll_s)
        try:
            stills = self._stills(event, image, polygon, plate)
        except OSError as exc:
            logger.error("violation %s: stills not sealed: %s", event.id, exc)
            noted = dataclasses.replace(event, notes={**event.notes, "stills": f"not sealed: {exc}"})
            return PendingCase(event=noted, stills=(), clip_start_s=window[0], clip_end_s=window[1])
        return PendingCase(event=event, stills=stills, clip_start_s=window[0], clip_end_s=window[1])

    def _stills(
        self,
        event: ViolationEvent,
        image: npt.NDArray[np.uint8],
        polygon: list[tuple[float, float]] | None,
        plate: PlateStill | None,
    ) -> tuple[EvidenceRecord, ...]:
        original = self.store.put(encode_jpeg(image), kind=ArtifactKind.SNAPSHOT, media_type="image/jpeg")
        caption = f"{event.kind.value} #{event.track_id} {event.label}"
        annotated = self.store.put(
            encode_jpeg(annotate(image, event.box, caption, polygon)),
            kind=ArtifactKind.ANNOTATED_SNAPSHOT,
            media_type="image/jpeg",
            parent_sha256=original.sha256,
        )
        object_crop = self.store.put(
            encode_jpeg(crop(image, event.box)),
            kind=ArtifactKind.CROP,
            media_type="image/jpeg",
            parent_sha256=original.sha256,
        )
        if plate is None:
            return (original, annotated, object_crop)
        same_frame = abs(plate.pts_s - event.key_frame_pts_s) < 1e-6
        return (original, annotated, object_crop, self.seal_plate(plate, original.sha256 if same_frame else None))

    def seal_plate(self, plate: PlateStill, parent_sha256: str | None = None) -> EvidenceRecord:
        """The plate crop as its own artifact, dated by the frame it was cut from (often not the key frame);
        ``parent_sha256`` names the snapshot only when it was cut from it. Raises OSError if the store fails."""
        return self.store.put(
            encode_jpeg(plate.image),
            kind=ArtifactKind.PLATE_CROP,
            media_type="image/jpeg",
            frame_range=(plate.pts_s, plate.pts_s),
            parent_sha256=parent_sha256,
        )

    def seal_stills(self, case: PendingCase) -> ViolationEvent:
        """The start, sent at once: the stills and a manifest of them, with a note that the clip follows (a live
        camera's ticket is filed seconds before its post-roll has been recorded). Queues the push."""
        event = dataclasses.replace(case.event, notes={**case.event.notes, "clip": CLIP_PENDING})
        return self._or_note(event, list(case.stills), lambda: self._sealed(event, list(case.stills)))

    def seal(
        self,
        case: PendingCase,
        packets: Sequence[EncodedPacket],
        record: RecordStreamParams | None,
        follows: ViolationEvent | None = None,
        later: Sequence[EvidenceRecord] = (),
    ) -> ViolationEvent:
        """Cut and validate the clip, write the manifest, queue the push. Returns the event with its evidence.

        Without ``follows`` this is the violation's start, with everything. With it (the newest event already
        sent, its start among them) this is the update that brings the clip: one revision on, the stills,
        ``later`` (plate crops sealed since) and the clip under a new manifest of them all.

        When the store cannot be written, the violation is still queued, with what was sealed and a note."""
        if follows is None:
            event = case.event
        else:
            # The pending clip, and stills whose manifest could not be written, are answered by this seal.
            notes = {k: v for k, v in follows.notes.items() if k not in ("clip", "evidence")}
            event = dataclasses.replace(follows, state=EventState.UPDATE, revision=follows.revision + 1, notes=notes)
        artifacts = [*case.stills, *later]
        return self._or_note(event, artifacts, lambda: self._seal(event, list(artifacts), case, packets, record))

    def _or_note(
        self, event: ViolationEvent, artifacts: list[EvidenceRecord], seal: Callable[[], ViolationEvent]
    ) -> ViolationEvent:
        """``seal()``; when the store cannot be written, the event is still queued, with ``artifacts`` and a note."""
        try:
            return seal()
        except OSError as exc:
            logger.error("violation %s: evidence not sealed: %s", event.id, exc)
            notes = {**event.notes, "evidence": f"not sealed: {exc}"}
            return self.publish(dataclasses.replace(event, evidence=tuple(artifacts), notes=notes))

    def _seal(
        self,
        event: ViolationEvent,
        artifacts: list[EvidenceRecord],
        case: PendingCase,
        packets: Sequence[EncodedPacket],
        record: RecordStreamParams | None,
    ) -> ViolationEvent:
        notes: dict[str, Any] = {}
        if record is None:
            notes["clip"] = "no clip: no record stream (an image input, or a camera whose main stream is not connected)"
        else:
            try:
                clip = cut_clip(packets, record, case.clip_start_s, case.clip_end_s)
                check = validate_clip(clip)
                if check.problem:
                    logger.warning("violation %s: clip %s", case.event.id, check.problem)
                    notes["clip"] = check.problem
                if short := _short_roll(clip.start_s, clip.end_s, case):
                    notes["clip_range"] = short
                artifacts.insert(
                    0,
                    self.store.put(
                        clip.data,
                        kind=ArtifactKind.ORIGINAL_CLIP,
                        media_type="video/mp4",
                        frame_range=(clip.start_s, clip.end_s),
                    ),
                )
            except ClipError as exc:  # the stills still stand; the manifest records why there is no clip
                logger.error("violation %s: no clip: %s", event.id, exc)
                notes["clip"] = f"not available: {exc}"
        return self._sealed(dataclasses.replace(event, notes={**event.notes, **notes}), artifacts)

    def _sealed(self, event: ViolationEvent, artifacts: list[EvidenceRecord]) -> ViolationEvent:
        """Write the manifest of ``artifacts`` (the case's newest: ``cases/<id>/manifest.json``), queue the push.

        Raises OSError when the store cannot be written (``seal`` turns that into a note)."""
        event = dataclasses.replace(event, evidence=tuple(artifacts))
        manifest = build_manifest(event, tuple(artifacts)) | ({"notes": event.notes} if event.notes else {})
        manifest_bytes = canonical_bytes(manifest)
        manifest_record = self.store.put(manifest_bytes, kind=ArtifactKind.MANIFEST, media_type="application/json")
        sealed = [manifest_record]
        case_dir = self.cases_dir / event.id
        if self.signer is not None:  # both in the store first; the case folder's copies follow
            signature = self.signer.sign(manifest_bytes)
            sealed.append(
                self.store.put(
                    signature,
                    kind=ArtifactKind.MANIFEST_SIGNATURE,
                    media_type="application/json",
                    parent_sha256=manifest_record.sha256,
                )
            )
        # A crash between the two copies must not leave a new manifest beside the old one's signature: the old
        # signature goes first, so the folder holds a matching pair, or a manifest that says it is unsigned.
        (case_dir / "manifest.sig").unlink(missing_ok=True)
        atomic_write(case_dir / "manifest.json", manifest_bytes)
        if self.signer is not None:
            atomic_write(case_dir / "manifest.sig", signature)
        return self.publish(dataclasses.replace(event, evidence=(*artifacts, *sealed)))

    def publish(self, event: ViolationEvent) -> ViolationEvent:
        """Check the event against the wire schema and queue it for the API under its own key."""
        record = event.to_dict()
        try:
            payload = ViolationWire.model_validate(record).model_dump(mode="json")
        except ValidationError as exc:  # kept, flagged and never pushed: the API would refuse it every time
            problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            logger.error(
                "violation %s: %s is not a valid record (%s); kept in the outbox", event.id, event.key, problem
            )
            self.outbox.enqueue(event.key, record, problem=f"invalid record: {problem}")
            return event
        self.outbox.enqueue(event.key, payload)
        return event


CLIP_PENDING = "pending: the clip is sealed once its post-roll has been recorded, and follows in an update"

# A clip is "short" when it misses more than this of the window it was asked for (a frame or two is rounding).
ROLL_TOLERANCE_S = 0.5


def _short_roll(start_s: float, end_s: float, case: PendingCase) -> str | None:
    """Say so when the clip lacks part of its pre-roll (the stream began later) or post-roll (it ended)."""
    parts = []
    if start_s > case.clip_start_s + ROLL_TOLERANCE_S:
        parts.append(f"starts at {start_s:.2f} s, not {case.clip_start_s:.2f} s (pre-roll not recorded)")
    if end_s < case.clip_end_s - ROLL_TOLERANCE_S:
        parts.append(f"ends at {end_s:.2f} s, not {case.clip_end_s:.2f} s (the input ended first)")
    return "; ".join(parts) or None
