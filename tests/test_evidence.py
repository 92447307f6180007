"""Evidence: write-once content-addressed store, stream-copied clips from the packet buffer, manifests."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from evidence.clips import ClipError, EncodedPacket, RecordStreamParams, cut_clip, select_packets, validate_clip
from evidence.locker import EvidenceLocker
from evidence.manifest import canonical_bytes
from evidence.outbox import Outbox
from evidence.store import ContentStore, EvidenceIntegrityError
from evidence.types import ArtifactKind
from pipeline.ring_buffer import PacketRingBuffer
from pipeline.sources.video_file import VideoFileSource
from tests.conftest import CLIP_27, make_event, needs_data
from tests.runtime_fakes import write_clip


def slice_nals(data: bytes, length_prefixed: bool) -> list[bytes]:
    """The coded-slice NAL units of an H.264 access unit (parameter sets and delimiters left out)."""
    units: list[bytes] = []
    if length_prefixed:
        i = 0
        while i + 4 <= len(data):
            size = int.from_bytes(data[i : i + 4], "big")
            units.append(data[i + 4 : i + 4 + size])
            i += 4 + size
    else:
        units = [u.lstrip(b"\x00") for u in data.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01").split(b"\x00\x00\x01")]
    return [u.rstrip(b"\x00") for u in units if u and (u[0] & 0x1F) in (1, 5)]


def test_store_is_content_addressed_and_write_once(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    record = store.put(b"frame bytes", kind=ArtifactKind.SNAPSHOT, media_type="image/jpeg")
    assert record.sha256 == hashlib.sha256(b"frame bytes").hexdigest() == record.storage_key
    path = store.path_for(record.sha256)
    assert path.read_bytes() == b"frame bytes"
    assert not (path.stat().st_mode & 0o222), "originals are read-only"
    assert store.put(b"frame bytes", kind=ArtifactKind.SNAPSHOT, media_type="image/jpeg") == record
    assert list(path.parent.glob("*.tmp")) == []
    assert store.read_verified(record.sha256) == b"frame bytes"
    path.chmod(0o644)
    path.write_bytes(b"edited")
    with pytest.raises(EvidenceIntegrityError, match="altered"):
        store.read_verified(record.sha256)
    with pytest.raises(ValueError, match="not a SHA-256"):
        store.path_for("../../etc/passwd")


def test_canonical_manifest_bytes_are_stable() -> None:
    a = canonical_bytes({"b": 1.5, "a": [1, {"z": "渣土车", "y": None}]})
    b = canonical_bytes({"a": [1, {"y": None, "z": "渣土车"}], "b": 1.5})
    assert a == b
    assert json.loads(a) == {"a": [1, {"y": None, "z": "渣土车"}], "b": 1.5}


@needs_data
def test_ring_buffer_holds_packets_and_clip_is_a_stream_copy(tmp_path: Path) -> None:
    source = VideoFileSource("cam", CLIP_27, fps=2.0)
    buffer = PacketRingBuffer(seconds=4.0)
    frames = []
    for frame in source.frames(buffer.append):
        frames.append(frame)
        if frame.pts_s >= 9.0:
            break
    packets = buffer.snapshot()
    assert packets[0].is_keyframe, "the buffer always starts at a keyframe"
    assert packets[-1].t_s - packets[0].t_s < 4.0 + 1.1  # at most one GOP (1 s here) beyond the window
    assert buffer.nbytes < 5_000_000, "packets, not decoded frames (one raw 1080p frame is 6 MB)"

    assert source.record_stream is not None
    assert pickle.loads(pickle.dumps(source.record_stream)) == source.record_stream, "a plain value crosses stages"
    clip = cut_clip(packets, source.record_stream, start_s=7.0, end_s=8.5)
    chosen = select_packets(packets, 7.0, 8.5)
    assert chosen[0].is_keyframe and chosen[0].t_s <= 7.0
    check = validate_clip(clip)
    assert check.clean_frames == clip.packets == len(chosen) and check.problem is None
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip.data)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.width, stream.height) == (1920, 1080)
        first = next(container.demux(stream))
        # MP4 frames NAL units with length prefixes where the camera's stream used start codes; the coded
        # slices themselves must be bit-identical (stream copy, no re-encode).
        camera_slices = slice_nals(chosen[0].data, length_prefixed=False)
        assert camera_slices, "the keyframe holds coded slices"
        assert slice_nals(bytes(first), length_prefixed=True) == camera_slices
    source.close()


def test_validate_clip_rejects_garbage() -> None:
    from evidence.clips import Clip

    with pytest.raises(ClipError):
        validate_clip(Clip(data=b"not an mp4", start_s=0, end_s=1, packets=3))


def test_cut_clip_without_keyframe_fails_clearly() -> None:
    with pytest.raises(ClipError, match="no keyframe"):
        cut_clip([], RecordStreamParams("h264", 64, 64, b""), 0.0, 1.0)


def _packets_of(path: Path) -> tuple[list[EncodedPacket], RecordStreamParams]:
    source = VideoFileSource("cam", path, fps=2.0)
    ring = PacketRingBuffer(seconds=100.0)
    for _ in source.frames(ring.append):
        pass
    assert source.record_stream is not None
    return ring.snapshot(), source.record_stream


def test_a_clip_with_corrupt_frames_in_the_middle_is_kept_with_a_note(tmp_path: Path) -> None:
    packets, params = _packets_of(write_clip(tmp_path / "clip.mp4", seconds=3))
    middle = next(i for i, p in enumerate(packets) if p.t_s >= 1.5 and not p.is_keyframe)
    broken = [
        dataclasses.replace(p, data=p.data[:8] + bytes(len(p.data) - 8)) if middle <= i < middle + 3 else p
        for i, p in enumerate(packets)
    ]
    clean = validate_clip(cut_clip(packets, params, 0.0, 3.0))
    assert clean.problem is None
    check = validate_clip(cut_clip(broken, params, 0.0, 3.0))
    assert check.clean_frames < check.packets and "do not decode cleanly" in (check.problem or "")

    store, outbox = ContentStore(tmp_path / "store"), Outbox(tmp_path / "outbox.sqlite")
    locker = EvidenceLocker(store, outbox, pre_roll_s=1.0, post_roll_s=1.0)
    image = np.zeros((240, 320, 3), np.uint8)
    case = locker.open_case(make_event(key_frame_pts_s=1.5, start_s=1.0, end_s=1.5), image)
    sealed = locker.seal(case, broken, params)
    assert "do not decode cleanly" in sealed.notes["clip"]
    assert sealed.evidence[0].kind.value == "original_clip", "the recorded bitstream is kept"
    manifest = json.loads(store.read_verified(sealed.evidence[-1].sha256))
    assert manifest["notes"]["clip"] == sealed.notes["clip"]
    ((_key, payload),) = outbox.pending()
    assert payload["notes"]["clip"] == sealed.notes["clip"], "the reviewer sees it on the ticket"


class FullDisk(ContentStore):
    def put(self, data: bytes, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_loses_no_violation(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    locker = EvidenceLocker(FullDisk(tmp_path / "store"), outbox, pre_roll_s=1.0, post_roll_s=1.0)
    case = locker.open_case(make_event(), np.zeros((240, 320, 3), np.uint8))
    sealed = locker.seal(case, [], None)
    assert sealed.evidence == ()
    assert "No space left on device" in sealed.notes["stills"] and "No space left" in sealed.notes["evidence"]
    ((key, payload),) = outbox.pending()
    assert key == sealed.key and payload["notes"] == sealed.notes


@pytest.mark.parametrize("plate_pts_s", [1.5, 0.9])
def test_the_plate_crop_is_sealed_as_its_own_artifact(tmp_path: Path, plate_pts_s: float) -> None:
    """The vehicle's best plate crop is its own artifact in the manifest, dated by the frame it came from; it is
    derived from the key frame only when it was cut from it."""
    from evidence.locker import PlateStill

    store, outbox = ContentStore(tmp_path / "store"), Outbox(tmp_path / "outbox.sqlite")
    locker = EvidenceLocker(store, outbox, pre_roll_s=1.0, post_roll_s=1.0)
    plate = np.full((40, 120, 3), 200, np.uint8)
    event = make_event(key_frame_pts_s=1.5, start_s=1.0, end_s=1.5)
    case = locker.open_case(event, np.zeros((240, 320, 3), np.uint8), None, PlateStill(plate, plate_pts_s))
    sealed = locker.seal(case, [], None)
    (record,) = [r for r in sealed.evidence if r.kind is ArtifactKind.PLATE_CROP]
    assert record.media_type == "image/jpeg" and record.frame_range == (plate_pts_s, plate_pts_s)
    snapshot = next(r for r in sealed.evidence if r.kind is ArtifactKind.SNAPSHOT)
    assert record.parent_sha256 == (snapshot.sha256 if plate_pts_s == 1.5 else None)
    decoded = av.open(str(store.path_for(record.sha256)))  # a real JPEG of the plate's size
    assert next(decoded.decode(video=0)).to_ndarray(format="bgr24").shape == plate.shape
    manifest = json.loads(store.read_verified(sealed.evidence[-1].sha256))
    assert "plate_crop" in json.dumps(manifest) and record.sha256 in json.dumps(manifest)
    ((_key, payload),) = outbox.pending()
    assert any(a["kind"] == "plate_crop" for a in payload["evidence"]), "the ticket gets it too"


def test_a_plate_first_read_after_the_start_is_sealed_with_the_update(tmp_path: Path) -> None:
    """The start had no plate; the update that carries the plate also carries its sealed crop, and so do the
    events after it; the same crop is never sealed twice."""
    from datetime import UTC, datetime

    from evidence.locker import PlateStill
    from evidence.types import EventState, TimeSource
    from pipeline.evidence_stage import EvidenceStage
    from pipeline.types import Frame

    store, outbox = ContentStore(tmp_path / "store"), Outbox(tmp_path / "outbox.sqlite")
    locker = EvidenceLocker(store, outbox, pre_roll_s=1.0, post_roll_s=1.0)
    stage = EvidenceStage(locker, PacketRingBuffer(10.0), lambda: None, {}, [])
    frame = Frame("cam-1", 0, 5.0, datetime(2026, 12, 1, tzinfo=UTC), np.zeros((240, 320, 3), np.uint8), False,
                  TimeSource.CONFIG)  # fmt: skip
    plate = PlateStill(np.full((40, 120, 3), 180, np.uint8), 6.0)
    stage.accept([make_event()], frame)
    violation = make_event().id
    stage.accept([make_event(state=EventState.UPDATE, revision=1, plate="晋HQ3928")], None, {violation: plate})
    stage.accept([make_event(state=EventState.UPDATE, revision=2)], None, {violation: plate})
    stage.accept([make_event(state=EventState.END, revision=3)], None, {violation: plate})
    stage.seal_ready(final=True)
    crops = {key: [a for a in payload["evidence"] if a["kind"] == "plate_crop"] for key, payload in outbox.pending()}
    start, first, second, end = (crops[make_event(state=s, revision=r).key] for s, r in
                                 [(EventState.START, 0), (EventState.UPDATE, 1), (EventState.UPDATE, 2),
                                  (EventState.END, 3)])  # fmt: skip
    assert start == [] and len(first) == 1 and second == first and end == first
    assert first[0]["frame_range"] == [6.0, 6.0] and first[0]["parent_sha256"] is None


def test_a_live_start_goes_at_once_with_its_stills_and_the_clip_follows_in_an_update(tmp_path: Path) -> None:
    """early_start (live cameras): the start is queued before the post-roll exists, an update that arrives
    meanwhile goes at once, the end waits for the clip; the clip's update keeps the stills and the plate crop
    under a new manifest, and the revisions run 0, 1, 2, 3 in the order sent."""
    from datetime import UTC, datetime

    from evidence.locker import PlateStill
    from evidence.types import EventState, TimeSource
    from pipeline.evidence_stage import EvidenceStage
    from pipeline.types import Frame

    packets, params = _packets_of(write_clip(tmp_path / "clip.mp4", seconds=5))
    store, outbox = ContentStore(tmp_path / "store"), Outbox(tmp_path / "outbox.sqlite")
    locker = EvidenceLocker(store, outbox, pre_roll_s=1.0, post_roll_s=1.0)
    ring = PacketRingBuffer(100.0)
    stage = EvidenceStage(locker, ring, lambda: params, {}, [], early_start=True)
    for packet in [p for p in packets if p.t_s <= 2.5]:
        ring.append(packet)
    frame = Frame("cam-1", 0, 2.0, datetime(2026, 12, 1, tzinfo=UTC), np.zeros((240, 320, 3), np.uint8), False,
                  TimeSource.CONFIG)  # fmt: skip
    violation = make_event().id
    stage.accept([make_event(key_frame_pts_s=2.0)], frame)
    stage.accept(
        [make_event(state=EventState.UPDATE, revision=1, plate="晋HQ3928", key_frame_pts_s=2.0)],
        None,
        {violation: PlateStill(np.full((40, 120, 3), 180, np.uint8), 2.4)},
    )
    stage.accept([make_event(state=EventState.END, revision=2, key_frame_pts_s=2.0)], None)
    stage.seal_ready()  # the post-roll (to 3.0 s) has not been recorded yet
    sent = dict(outbox.pending())
    assert list(sent) == [f"{violation}:0:start", f"{violation}:1:update"] and stage.open_violations == 1
    start = sent[f"{violation}:0:start"]
    assert [a["kind"] for a in start["evidence"]] == ["snapshot", "annotated_snapshot", "crop", "manifest"]
    assert start["notes"]["clip"].startswith("pending")
    stills_manifest = json.loads(store.read_verified(start["evidence"][-1]["sha256"]))
    assert stills_manifest["notes"]["clip"].startswith("pending")

    for packet in [p for p in packets if p.t_s > 2.5]:
        ring.append(packet)
    stage.seal_ready()
    sent = dict(outbox.pending())
    assert list(sent)[2:] == [f"{violation}:2:update", f"{violation}:3:end"] and stage.open_violations == 0
    clip_update, end = sent[f"{violation}:2:update"], sent[f"{violation}:3:end"]
    kinds = [a["kind"] for a in clip_update["evidence"]]
    assert kinds == ["original_clip", "snapshot", "annotated_snapshot", "crop", "plate_crop", "manifest"]
    assert "clip" not in clip_update["notes"] and clip_update["plate"] == "晋HQ3928"
    manifest = json.loads(store.read_verified(clip_update["evidence"][-1]["sha256"]))
    assert {a["sha256"] for a in clip_update["evidence"][:-1]} <= {a["sha256"] for a in manifest["artifacts"]}
    assert end["evidence"] == clip_update["evidence"], "the end carries the clip"


def _live_stage(tmp_path: Path) -> tuple[Any, Any, Outbox, list[Any]]:
    from pipeline.evidence_stage import EvidenceStage

    packets, params = _packets_of(write_clip(tmp_path / "clip.mp4", seconds=5))
    store, outbox = ContentStore(tmp_path / "store"), Outbox(tmp_path / "outbox.sqlite")
    locker = EvidenceLocker(store, outbox, pre_roll_s=1.0, post_roll_s=1.0)
    ring = PacketRingBuffer(100.0)
    for packet in packets:
        ring.append(packet)
    return EvidenceStage(locker, ring, lambda: params, {}, [], early_start=True), locker, outbox, packets


def _frame_at(pts_s: float) -> Any:
    from datetime import UTC, datetime

    from evidence.types import TimeSource
    from pipeline.types import Frame

    return Frame("cam-1", 0, pts_s, datetime(2026, 12, 1, tzinfo=UTC), np.zeros((240, 320, 3), np.uint8), False,
                 TimeSource.CONFIG)  # fmt: skip


def test_a_failing_stills_seal_loses_neither_its_start_nor_the_frames_other_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evidence.types import EventState

    stage, locker, outbox, _ = _live_stage(tmp_path)

    def broken(case: Any) -> Any:
        raise RuntimeError("the manifest could not be built")

    monkeypatch.setattr(locker, "seal_stills", broken)
    a, b = "0b6f7c6e-0000-4000-8000-00000000000a", "0b6f7c6e-0000-4000-8000-00000000000b"
    stage.accept([make_event(a, key_frame_pts_s=2.0), make_event(b, key_frame_pts_s=2.0)], _frame_at(2.0))
    sent = dict(outbox.pending())
    assert list(sent) == [f"{a}:0:start", f"{b}:0:start"]
    for start in sent.values():
        assert "not sealed" in start["notes"]["evidence"] and start["notes"]["clip"].startswith("pending")
        assert [a["kind"] for a in start["evidence"]] == ["snapshot", "annotated_snapshot", "crop"]
    stage.accept([make_event(a, EventState.END, 1, key_frame_pts_s=2.0)], None)
    stage.seal_ready()  # the clip still follows, and the "not sealed" note is answered by its manifest
    sent = dict(outbox.pending())
    update = sent[f"{a}:1:update"]
    assert "evidence" not in update["notes"] and update["evidence"][0]["kind"] == "original_clip"
    assert sent[f"{a}:2:end"]["evidence"] == update["evidence"]


def test_a_clip_that_cannot_be_sealed_after_a_live_start_is_reported_on_the_update_and_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evidence.types import EventState

    stage, locker, outbox, _ = _live_stage(tmp_path)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the muxer failed")

    monkeypatch.setattr(locker, "seal", broken)
    stage.accept([make_event(key_frame_pts_s=2.0)], _frame_at(2.0))
    stage.accept([make_event(state=EventState.END, revision=1, key_frame_pts_s=2.0)], None)
    stage.seal_ready()
    violation = make_event().id
    sent = dict(outbox.pending())
    assert list(sent) == [f"{violation}:0:start", f"{violation}:1:update", f"{violation}:2:end"]
    update, end = sent[f"{violation}:1:update"], sent[f"{violation}:2:end"]
    assert "not sealed" in update["notes"]["clip"] and "muxer failed" in update["notes"]["clip"]
    assert end["notes"]["clip"] == update["notes"]["clip"], "the end keeps the clip's note (the API keeps it whole)"
    assert stage.open_violations == 0
