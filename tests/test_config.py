"""Config validation: every error names its YAML path and line; the CLI prints them without a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import ConfigError, load_config
from tests.conftest import CLIP_27, needs_data

REPO = Path(__file__).resolve().parents[1]

GOOD = """\
cameras:
  - id: cam-1
    fps: 2
    inputs:
      - path: clip.mp4
    zones:
      - name: shop
        kind: no_vending
        polygon: [[0, 0], [100, 0], [100, 100]]
rules:
  - name: stall
    kind: street_stall
    camera: cam-1
    zone: shop
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_config_resolves_paths_relative_to_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.cameras[0].inputs[0].path == tmp_path / "clip.mp4"
    assert config.storage.evidence_dir == tmp_path / "var" / "evidence"
    assert config.database.url == f"sqlite:///{tmp_path / 'var' / 'nonsite.db'}"
    assert config.detector.type == "nanodet"


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (("    fps: 2\n", "    fps: 2\n    frame_rate: 5\n"), "line 4: cameras[0].frame_rate: unknown key"),
        (("    fps: 2\n", "    fps: -1\n"), "line 3: cameras[0].fps: Input should be greater than 0"),
        (("kind: no_vending", "kind: no_smoking"), "line 8: cameras[0].zones[0].kind: Input should be"),
        (
            ("polygon: [[0, 0], [100, 0], [100, 100]]", "polygon: [[0, 0], [1, 1]]"),
            "line 9: cameras[0].zones[0].polygon: List should have at least 3 items",
        ),
        (("    zone: shop\n", "    zone: road\n"), "rule 'stall': camera 'cam-1' has no zone 'road'"),
        (("kind: street_stall", "kind: parking"), "line 12: rules[0].kind: unknown kind 'parking'; expected one of"),
        (
            ("    zone: shop\n", "    zone: shop\n    min_pile: 3\n"),
            "line 15: rules[0].min_pile: not a key of street_stall rules (min_pile belongs to shared_bike_misparked",
        ),
        (
            ("kind: street_stall", "kind: muck_truck"),
            "rule 'stall' (muck_truck) watches zone 'shop' of kind no_vending; it needs a zone of kind watched_road",
        ),
        (
            ("kind: no_vending", "kind: bike_parking"),
            "a bike_parking zone is where bikes may park",
        ),
        (
            ("      - path: clip.mp4\n", "      - url: http://admin:s3cret@10.0.0.1/stream\n"),
            "must be rtsp:// or rtsps://",
        ),
        (
            (
                "      - path: clip.mp4\n",
                "      - url: rtsp://10.0.0.1/stream\n        start_time: 2026-01-01T00:00:00Z\n",
            ),
            "start_time is for files",
        ),
        (
            ("[[0, 0], [100, 0]", "[[-5, 0], [100, 0]"),
            "line 9: cameras[0].zones[0].polygon[0][0]: Input should be greater",
        ),
        (("[[0, 0], [100, 0]", "[[.nan, 0], [100, 0]"), "cameras[0].zones[0].polygon[0][0]: Input should be a finite"),
        (("[[0, 0], [100, 0]", "[[1e20, 0], [100, 0]"), "polygon[0][0]: Input should be less than or equal to 16384"),
        (
            ("[[0, 0], [100, 0], [100, 100]]", "[[0, 0], [100, 100], [100, 0], [0, 100]]"),
            "line 9: cameras[0].zones[0].polygon: the polygon is not a simple shape (Self-intersection",
        ),
        (("[[0, 0], [100, 0], [100, 100]]", "[[0, 0], [50, 50], [100, 100]]"), "not a simple shape"),
        (
            ("    zone: shop\n", "    zone: shop\n    schedule:\n      - start: 700\n"),
            'line 16: rules[0].schedule[0].start: give a local time as "HH:MM" in quotes, got 700',
        ),
        (("    zone: shop\n", "    zone: shop\n    min_dwell_s: .inf\n"), "rules[0].min_dwell_s: Input should be"),
    ],
)
def test_each_error_names_path_and_line(tmp_path: Path, mutation: tuple[str, str], expected: str) -> None:
    old, new = mutation
    assert old in GOOD
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD.replace(old, new)))
    assert any(expected in problem for problem in info.value.problems), info.value.problems


def test_unknown_detector_key_is_reported_under_detector(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD + "detector:\n  type: nanodet\n  treshold: 0.3\n"))
    assert info.value.problems == [
        "line 17: detector.treshold: unknown key (check spelling; see samples/config.yaml for the allowed keys)"
    ]


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="is a folder, not a config file"):
        load_config(tmp_path)
    binary = tmp_path / "model.onnx"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError, match=r"not a text file \(UTF-8 YAML expected"):
        load_config(binary)
    binary.write_bytes(b"cameras:\x00\x00")
    with pytest.raises(ConfigError, match="NUL bytes"):
        load_config(binary)
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "cameras: [\n"))
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(write(tmp_path, "- just a list\n"))


@needs_data
def test_check_config_probes_the_frame_size_of_each_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD.replace("clip.mp4", str(CLIP_27))  # 1920 x 1080
    inside = write(tmp_path, text)
    assert main(["check-config", str(inside)]) == 0
    outside = write(tmp_path, text.replace("[[0, 0], [100, 0], [100, 100]]", "[[2000, 0], [2100, 0], [2100, 100]]"))
    assert main(["check-config", str(outside)]) == 2
    assert "lies wholly outside the 1920x1080 frame" in capsys.readouterr().err
    partly = write(tmp_path, text.replace("[[0, 0], [100, 0], [100, 100]]", "[[1900, 0], [2100, 0], [2100, 100]]"))
    assert main(["check-config", str(partly)]) == 0
    assert "part of the polygon lies outside the 1920x1080 frame" in capsys.readouterr().err
    outside.write_text(text.replace("[[0, 0], [100, 0], [100, 100]]", "[[2000, 0], [2100, 0], [2100, 100]]"))
    assert main(["run", "--config", str(outside), "--no-push"]) == 2, "run refuses it too, before any work"


def test_check_config_cli_prints_every_error_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = GOOD.replace("    fps: 2\n", "    fps: 0\n    colour: red\n")
    assert main(["check-config", str(write(tmp_path, bad))]) == 2
    err = capsys.readouterr().err
    assert "2 problem(s)" in err
    assert "line 3: cameras[0].fps" in err
    assert "line 4: cameras[0].colour: unknown key" in err
    assert "Traceback" not in err


def test_sample_config_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(REPO / "samples" / "config.yaml")]) == 0
    assert "OK — 2 camera(s), 3 rule(s)" in capsys.readouterr().out
