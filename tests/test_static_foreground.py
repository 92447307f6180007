"""Static foreground on real footage: goods from clip 25 put down on clip 27's pavement are found; the same
pavement without them, goods present from the first frame, and goods under a detected vehicle are not."""

from __future__ import annotations

from collections.abc import Callable

import av
import numpy as np
import pytest

from detectors.images import read_bgr
from detectors.types import Detections
from pipeline.config import StaticForegroundConfig
from pipeline.static_foreground import STATIC_LABEL, StaticForeground, _changed
from tests.conftest import CLIP_27, DATA, needs_data

PAVEMENT = [(1250.0, 540.0), (1900.0, 540.0), (1900.0, 820.0), (1250.0, 820.0)]
GOODS_AT = (1400, 600, 1650, 780)  # where the goods are put down in clip 27
PUT_DOWN_S = 4.0
CONFIG = StaticForegroundConfig(min_static_s=6.0, warmup_s=2.0)


def _goods() -> np.ndarray:
    """The display rack and table labelled outside the shop in clip 25 (goods_outside_shop)."""
    frame = read_bgr(DATA / "street_scenes/images/mcmot_test_25_frame0000.jpg")
    return frame[360:540, 1590:1840].copy()


def _run(
    put_down_from_s: float | None,
    detections: Callable[[float], Detections] = lambda _t: Detections.empty(),
) -> list[tuple[float, Detections]]:
    """Clip 27 at about 4 fps through StaticForeground; the goods appear from ``put_down_from_s`` (None: never)."""
    goods = _goods()
    finder = StaticForeground(CONFIG, [PAVEMENT])
    found: list[tuple[float, Detections]] = []
    with av.open(str(CLIP_27)) as container:
        start = None
        for index, frame in enumerate(container.decode(video=0)):
            if index % 6:
                continue
            t = float(frame.time or 0.0)
            start = t if start is None else start
            image = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
            if put_down_from_s is not None and t - start >= put_down_from_s:
                x1, y1, x2, y2 = GOODS_AT
                image[y1:y2, x1:x2] = goods
            found.append((t - start, finder.update(image, t, detections(t - start))))
    return found


def _covering_goods(found: Detections) -> list[float]:
    """For each blob, the share of the goods' area it covers (people standing nearby cover little of it)."""
    gx1, gy1, gx2, gy2 = GOODS_AT
    shares = []
    for x1, y1, x2, y2 in found.xyxy:
        w, h = max(0.0, min(x2, gx2) - max(x1, gx1)), max(0.0, min(y2, gy2) - max(y1, gy1))
        shares.append(float(w * h) / ((gx2 - gx1) * (gy2 - gy1)))
    return shares


@needs_data
def test_goods_put_down_are_found_after_they_stay() -> None:
    frames = _run(PUT_DOWN_S)
    hits = [t for t, found in frames if any(share >= 0.8 for share in _covering_goods(found))]
    assert hits, "the goods were never reported"
    assert min(hits) >= PUT_DOWN_S + CONFIG.min_static_s - 0.5  # not before they have stayed min_static_s
    assert min(hits) <= PUT_DOWN_S + CONFIG.min_static_s + 4 * CONFIG.settle_s  # nor long after
    assert hits == [t for t, _ in frames if t >= min(hits)]  # and on every frame from then on
    last = frames[-1][1]
    assert set(last.label) == {STATIC_LABEL}
    assert all(a == {"source": "static_foreground"} for a in last.attributes)


@needs_data
def test_the_same_pavement_without_goods_reports_nothing_there() -> None:
    for _t, found in _run(None):
        assert not any(share >= 0.3 for share in _covering_goods(found))


@needs_data
def test_goods_present_from_the_start_are_background() -> None:
    for _t, found in _run(0.0):
        assert not any(share >= 0.8 for share in _covering_goods(found))


@needs_data
def test_a_blob_inside_a_detected_vehicle_is_dropped() -> None:
    car = Detections.from_arrays([[1380, 580, 1680, 800]], [0.6], [0], ("car",))
    for _t, found in _run(PUT_DOWN_S, detections=lambda _t: car):
        assert not any(share >= 0.8 for share in _covering_goods(found))


def test_zones_outside_the_frame_are_refused() -> None:
    finder = StaticForeground(CONFIG, [[(5000.0, 5000.0), (6000.0, 5000.0), (6000.0, 6000.0)]])
    with pytest.raises(ValueError, match="outside the 640x480 frame"):
        finder.update(np.zeros((480, 640, 3), np.uint8), 0.0)
    with pytest.raises(ValueError, match="at least one zone"):
        StaticForeground(CONFIG, [])


@pytest.mark.parametrize("threshold", [0.0, 12.5, 25.0, 254.0])
def test_a_change_is_any_colour_channel_differing_by_more_than_the_threshold(threshold: float) -> None:
    rng = np.random.default_rng(7)
    a = (rng.random((37, 53, 3)) * 255).astype(np.float32)
    b = a.copy()
    b[rng.random(a.shape) < 0.3] += np.float32(threshold)  # exactly at the threshold: no change
    b[rng.random(a.shape) < 0.2] -= np.float32(threshold + 1)  # just past it, one channel at a time
    expected = np.abs(a - b).max(axis=2) > threshold
    assert 0 < expected.sum() < expected.size
    assert np.array_equal(_changed(a, b, threshold), expected)
