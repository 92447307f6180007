"""Evidence: write-once content-addressed store, stream-copied clips from the packet buffer, manifests."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import av
import pytest

from evidence.clips import ClipError, RecordStreamParams, cut_clip, select_packets, validate_clip
from evidence.manifest import canonical_bytes
from evidence.store import ContentStore, EvidenceIntegrityError
from evidence.types import ArtifactKind
from pipeline.ring_buffer import PacketRingBuffer
from pipeline.sources.video_file import VideoFileSource
from tests.conftest import CLIP_27, needs_data


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
