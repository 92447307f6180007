"""Truck cover, shared-bike brand/shared/fallen: on real crops from ../shared/data, plus their voting and rule."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from detectors.attributes.annotate import AttributeAnnotator
from detectors.attributes.bike import BikeConfig, Brand, bike_attributes, colour_excess, is_fallen
from detectors.attributes.truck_cover import DEFAULT_HEAD_PATH, CoverClassifier, CoverHead, CoverState
from detectors.base import DetectorError
from detectors.images import read_bgr
from detectors.types import Detections
from pipeline.attribute_step import AttributeStep
from pipeline.evaluation import TRUCK_COVER_CLASSES, load_labels
from tests.conftest import DATA, REPO, make_track, needs_data

# The labelled bikes of ../shared/data: (file, box, brand the operator's colour says, shared?)
REAL_BIKES = [
    ("street_scenes/images/mcmot_test_27_frame0000.jpg", (1547, 797, 1654, 907), "qingju", True),
    ("street_scenes/images/mcmot_test_27_frame0000.jpg", (1663, 797, 1789, 963), "qingju", True),
    ("shared_bike/images/we0091234_single_blue.jpg", (30, 337, 150, 496), "meituan", True),  # orange Mobike
    ("shared_bike/images/we0091234_single_blue.jpg", (150, 339, 249, 496), "meituan", True),  # Mobike-lite
    ("street_scenes/images/captaineven_test_3.jpg", (466, 208, 596, 282), "other", False),  # private, on bricks
]


# ------------------------------------------------------------------ bike colours (synthetic, table-driven)
def _painted_bike(bgr: tuple[int, int, int], background: tuple[int, int, int] = (128, 128, 128)) -> np.ndarray:
    """A grey scene with a bike-sized frame drawn in one paint colour (thin strokes, like a real frame)."""
    image = np.full((300, 300, 3), background, np.uint8)
    cv2.circle(image, (110, 190), 35, bgr, 4)
    cv2.circle(image, (190, 190), 35, bgr, 4)
    cv2.line(image, (110, 190), (150, 140), bgr, 5)
    cv2.line(image, (150, 140), (190, 190), bgr, 5)
    return image


@pytest.mark.parametrize(
    ("bgr", "brand", "shared"),
    [
        ((0, 120, 255), "meituan", True),  # orange
        ((0, 215, 255), "meituan", True),  # yellow
        ((255, 120, 0), "hellobike", True),  # blue
        ((120, 200, 0), "qingju", True),  # teal-green
        ((40, 40, 40), "other", False),  # black private bike
        ((0, 0, 220), "other", False),  # red: no operator paints red
    ],
)
def test_brand_from_paint_colour(bgr: tuple[int, int, int], brand: str, shared: bool) -> None:
    found = bike_attributes(_painted_bike(bgr), (70, 100, 230, 230))
    assert (found.brand, found.shared) == (brand, shared)


def test_colour_that_the_surroundings_share_is_not_a_brand() -> None:
    """An orange bike on an orange pavement: the excess over the ring around the box is what counts."""
    orange = (0, 120, 255)
    image = np.full((300, 300, 3), orange, np.uint8)
    assert colour_excess(image, (70, 100, 230, 230))[Brand.MEITUAN] == pytest.approx(0.0, abs=1e-6)
    assert bike_attributes(image, (70, 100, 230, 230)).brand == "other"


def test_tiny_or_dark_bikes_have_unknown_brand() -> None:
    assert bike_attributes(_painted_bike((0, 120, 255)), (100, 100, 115, 112)).brand == "unknown"
    night = (_painted_bike((0, 120, 255)) * 0.1).astype(np.uint8)
    assert bike_attributes(night, (70, 100, 230, 230)).brand == "unknown"


@pytest.mark.parametrize(
    ("box", "fallen"),
    [((0, 0, 100, 100), False), ((0, 0, 130, 74), False), ((0, 0, 200, 90), True), ((0, 0, 100, 0), False)],
)
def test_fallen_from_box_aspect(box: tuple[float, float, float, float], fallen: bool) -> None:
    assert is_fallen(box, BikeConfig().fallen_aspect) is fallen


# ------------------------------------------------------------------ bikes: real crops
@needs_data
@pytest.mark.parametrize(("file", "box", "brand", "shared"), REAL_BIKES)
def test_real_bike_crops(file: str, box: tuple[float, float, float, float], brand: str, shared: bool) -> None:
    found = bike_attributes(read_bgr(DATA / file), box)
    assert (found.brand, found.shared, found.fallen) == (brand, shared, False)


@needs_data
def test_a_real_bike_lying_on_the_ground_is_fallen() -> None:
    """The private bike, seen side on, flattened as a camera above would see it lying on the pavement."""
    image = read_bgr(DATA / "street_scenes/images/captaineven_test_3.jpg")
    x1, y1, x2, y2 = 466, 208, 596, 282
    lying = cv2.resize(image[y1:y2, x1:x2], (x2 - x1, (y2 - y1) // 2))
    scene = image.copy()
    scene[y1 : y1 + lying.shape[0], x1:x2] = lying
    assert bike_attributes(image, (x1, y1, x2, y2)).fallen is False
    assert bike_attributes(scene, (x1, y1, x2, y1 + lying.shape[0])).fallen is True


# ------------------------------------------------------------------ truck cover
@pytest.fixture(scope="module")
def cover() -> CoverClassifier:
    return CoverClassifier()


def _truck_labels() -> list[tuple[Path, tuple[float, float, float, float], str]]:
    return [
        (DATA / label.file, label.box, TRUCK_COVER_CLASSES[label.cls])
        for label in load_labels(DATA / "truck_cover")
        if label.cls in TRUCK_COVER_CLASSES and label.box is not None
    ]


@needs_data
def test_cover_on_real_trucks_never_calls_a_load_uncovered_wrongly(cover: CoverClassifier) -> None:
    """The head was trained on these ten trucks, so this checks the shipped head, not generalisation (the
    leave-one-image-out figure in detectors/attributes/truck_cover.json is that)."""
    results = [(truth, cover.classify(read_bgr(path), box).state) for path, box, truth in _truck_labels()]
    assert len(results) == 10
    assert all(state in ("covered", "uncovered", "empty", "unknown") for _, state in results)
    assert not [r for r in results if r[1] == "uncovered" and r[0] != "uncovered"]
    assert sum(truth == state for truth, state in results) >= 6
    assert ("covered", "covered") in results  # the green dust nets
    assert ("empty", "empty") in results
    assert [state for truth, state in results if truth == "unknown"] == ["unknown", "unknown"]  # cab only


@needs_data
def test_cover_does_not_flip_to_uncovered_at_night(cover: CoverClassifier) -> None:
    """Every truck made to look like a night frame: the answer never becomes "uncovered"."""
    for path, box, truth in _truck_labels():
        if truth == "uncovered":
            continue
        image = read_bgr(path)
        dark = (255.0 * (image / 255.0) ** 2.2 * np.array([1.1, 0.9, 0.8])).clip(0, 255).astype(np.uint8)
        assert cover.classify(dark, box).state != "uncovered", path.name


@needs_data
def test_things_that_are_not_truck_beds_are_unknown(cover: CoverClassifier) -> None:
    """A blue road sign that the detector scored as "truck" in clip 25 lies outside the training range."""
    import av

    with av.open(str(DATA / "videos" / "captaineven_mcmot_test_25.mp4")) as container:
        frame = np.asarray(next(container.decode(video=0)).to_ndarray(format="bgr24"), dtype=np.uint8)
    assert cover.classify(frame, (4, 367, 123, 521)).state == "unknown"
    assert cover.classify(frame, (0, 0, 20, 20)).state == "unknown"  # too small to hold a bed


def test_cover_head_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match="train_truck_cover"):
        CoverHead.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(DetectorError, match="not valid JSON"):
        CoverHead.load(tmp_path / "bad.json")
    head = json.loads(DEFAULT_HEAD_PATH.read_text(encoding="utf-8"))
    head["features"] = ["brightness"]
    (tmp_path / "old.json").write_text(json.dumps(head), encoding="utf-8")
    with pytest.raises(DetectorError, match="other features"):
        CoverHead.load(tmp_path / "old.json")


@needs_data
def test_training_script_reproduces_the_shipped_head(tmp_path: Path) -> None:
    """Behaviour, not floats: coefficients differ in the last digits across machines and BLAS builds, but the
    retrained head must give the shipped head's answers (leave-one-out, night copies, and the labelled trucks)."""
    out = tmp_path / "head.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "models" / "train_truck_cover.py"), "--data", str(DATA), "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "leave-one-image-out" in done.stdout
    shipped = json.loads(DEFAULT_HEAD_PATH.read_text(encoding="utf-8"))
    rebuilt = json.loads(out.read_text(encoding="utf-8"))
    assert rebuilt["classes"] == shipped["classes"] and rebuilt["features"] == shipped["features"]

    def answers(head: dict[str, Any]) -> list[tuple[str, str, str]]:
        cases = head["training"]["leave_one_image_out"]["cases"]
        return [(c["file"], c["predicted"], c["predicted_if_night"]) for c in cases]

    assert answers(rebuilt) == answers(shipped)
    assert rebuilt["training"]["leave_one_image_out"]["false_uncovered"] == 0
    shipped_head, rebuilt_head = (
        CoverClassifier(CoverHead.load(DEFAULT_HEAD_PATH)),
        CoverClassifier(CoverHead.load(out)),
    )
    trucks = [(label.file, label.box) for label in load_labels(DATA) if label.cls.startswith("truck_") and label.box]
    assert trucks
    near_threshold = 0.02  # a truck this close to the confidence threshold may tip to "unknown" on another BLAS
    for file, box in trucks:
        image = read_bgr(DATA / file)
        shipped_answer, rebuilt_answer = shipped_head.classify(image, box), rebuilt_head.classify(image, box)
        if abs(shipped_answer.confidence - shipped_head.head.min_confidence) < near_threshold:
            states = {shipped_answer.state, rebuilt_answer.state}
            assert len(states) == 1 or CoverState.UNKNOWN in states, file  # tipped over the threshold, no further
            continue
        assert rebuilt_answer.state == shipped_answer.state, file


# ------------------------------------------------------------------ annotate, voting, rule
def test_annotate_fills_attributes_only_for_trucks_and_bikes() -> None:
    image = _painted_bike((0, 120, 255))
    detections = Detections.from_arrays(
        [[70, 100, 230, 230], [0, 0, 50, 50]], [0.9, 0.9], [1, 0], ("person", "bicycle")
    )
    annotated = AttributeAnnotator().annotate(image, detections)
    assert annotated.attributes[0]["brand"] == "meituan"
    assert annotated.attributes[1] == {}


class _ScriptedAnnotator(AttributeAnnotator):
    """Real annotator interface; answers come from a script so the voting can be checked exactly."""

    def __init__(self, answers: list[dict[str, object]]) -> None:
        super().__init__(cover=CoverClassifier())
        self.answers = answers

    def attributes_for(
        self, image: np.ndarray, label: str, box: tuple[float, float, float, float]
    ) -> dict[str, object]:
        return dict(self.answers.pop(0))


def test_cover_vote_needs_two_reads_and_takes_the_majority() -> None:
    answers: list[dict[str, object]] = [
        {"cover": c, "cover_confidence": 0.8} for c in ("uncovered", "covered", "covered")
    ]
    step = AttributeStep(_ScriptedAnnotator(answers))
    track = make_track(label="truck")
    image = np.zeros((10, 10, 3), np.uint8)
    (judged,) = step.update(image, [track])
    assert judged.attributes.cover is CoverState.UNKNOWN  # one read is not enough to raise an alarm
    step.update(image, [track])
    (judged,) = step.update(image, [track])
    assert judged.attributes.cover is CoverState.COVERED
    assert (judged.attributes.cover_votes, judged.attributes.cover_reads) == (2, 3)
    assert track.attributes.cover is None, "the step returns new values; the track it was given is unchanged"


def test_bike_votes_brand_and_follows_a_fall() -> None:
    read = {"shared": True, "brand": "qingju", "brand_score": 0.02, "fallen": False}
    step = AttributeStep(_ScriptedAnnotator([read, read]), max_reads=2, recent=3)
    track = make_track(label="bicycle", box=(0, 0, 100, 100))
    lying = dataclasses.replace(track, box=(0, 0, 200, 80))  # the bike lies on the ground
    image = np.zeros((10, 10, 3), np.uint8)
    (judged,) = step.update(image, [lying])  # one misjudged first frame …
    assert judged.attributes.fallen is None, "no fallen state before 3 frames are in"
    for _ in range(2):
        (judged,) = step.update(image, [track])
    found = judged.attributes  # … is outvoted by the first three frames
    assert (found.brand, found.shared, found.fallen, found.brand_votes, found.brand_reads) == (
        Brand.QINGJU,
        True,
        False,
        2,
        2,
    )
    for _ in range(2):
        (judged,) = step.update(image, [lying])
        assert judged.attributes.fallen is False  # two frames are not a fall: it needs 3 in a row
    (judged,) = step.update(image, [lying])
    assert judged.attributes.fallen is True  # re-checked every frame, after the brand has settled
    # A box whose aspect hovers at the threshold (standing, lying, standing …) does not flip it back.
    for box in [track, lying, track, track, lying]:
        (judged,) = step.update(image, [box])
        assert judged.attributes.fallen is True
    for _ in range(3):
        (judged,) = step.update(image, [track])
    assert judged.attributes.fallen is False  # stood up again: three frames in a row
    step.forget([track.track_id])
    assert track.track_id not in step._votes


def test_a_head_in_the_models_directory_takes_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head = json.loads(DEFAULT_HEAD_PATH.read_text(encoding="utf-8"))
    head["min_confidence_uncovered"] = 0.95  # a bureau's own, stricter head
    (tmp_path / "truck_cover.json").write_text(json.dumps(head), encoding="utf-8")
    monkeypatch.setenv("NONSITE_MODELS_DIR", str(tmp_path))
    assert CoverHead.load().min_confidence_uncovered == 0.95
    monkeypatch.setenv("NONSITE_MODELS_DIR", str(tmp_path / "empty"))
    assert CoverHead.load().min_confidence_uncovered == 0.7
