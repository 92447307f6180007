"""Bad input to the CLI: each gets a specific `error: …` and a non-zero exit, never a traceback or silence."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main
from tests.conftest import CLIP_27, needs_data
from tests.test_yolo_onnx import _tiny_model

GOOD = """\
cameras:
  - id: cam
    inputs:
      - path: {clip}
    zones:
      - name: pavement
        kind: no_parking
        polygon: [[0, 0], [500, 0], [500, 500]]
rules:
  - name: bikes
    kind: shared_bike_misparked
    camera: cam
    zone: pavement
storage:
  evidence_dir: {root}/evidence
  outbox_path: {root}/outbox.sqlite
database:
  url: sqlite:///{root}/api.db
"""


def config(tmp_path: Path, old: str = "", new: str = "") -> Path:
    text = GOOD.format(clip=CLIP_27, root=tmp_path)
    assert old in text
    path = tmp_path / "config.yaml"
    path.write_text(text.replace(old, new, 1) if old else text, encoding="utf-8")
    return path


def fails_cleanly(argv: list[str], capsys: pytest.CaptureFixture[str], expected: str, code: int = 2) -> None:
    try:
        result = main(argv)
    except SystemExit as exc:  # argparse refuses the argument itself
        result = int(exc.code or 0)
    err = capsys.readouterr().err
    assert result == code, err
    assert expected in err and "Traceback" not in err, err


@needs_data
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("outbox.sqlite", ""), "storage.outbox_path"),  # the outbox path is the folder itself
        (("{root}/evidence", "{config}"), "storage.evidence_dir"),  # a file where the store's folder should be
        (("sqlite:///{root}/api.db", "garbage!!"), "database.url: 'garbage!!' is not a SQLAlchemy URL"),
        (("sqlite:///{root}/api.db", "sqlite:///{config}/api.db"), "cannot be created"),
        ((str(CLIP_27), "/nowhere/clip.mp4"), "input not found: /nowhere/clip.mp4"),
        (("    inputs:\n", "    fps: true\n    inputs:\n"), "fps: a number is needed, got True"),
        (("    inputs:\n", "    fps: .nan\n    inputs:\n"), "cameras[0].fps: Input should be a finite number"),
        (
            ("storage:\n", "detector:\n  type: nanodet\n  model_path: /nowhere/m.onnx\nstorage:\n"),
            "detector.model_path",
        ),
        (("storage:\n", "detector:\n  type: ultralytics\n  weights: /nowhere/w.pt\nstorage:\n"), "detector.weights"),
    ],
)
def test_check_config_and_run_refuse_what_would_fail_later(tmp_path: Path, capsys, change, expected) -> None:
    old, new = (
        part.replace("{root}", str(tmp_path)).replace("{config}", str(tmp_path / "config.yaml")) for part in change
    )
    path = config(tmp_path, old, new)
    fails_cleanly(["check-config", str(path)], capsys, expected)
    fails_cleanly(["run", "--config", str(path), "--no-push"], capsys, expected)


@needs_data
def test_a_rule_label_the_detector_never_reports_is_a_warning(tmp_path: Path, capsys) -> None:
    path = config(tmp_path, "    zone: pavement\n", "    zone: pavement\n    labels: [bicycle, unicorn]\n")
    assert main(["check-config", str(path)]) == 0
    assert "the detector never reports ['unicorn']" in capsys.readouterr().err


MUCK_RULE = """\
      - name: road
        kind: watched_road
        polygon: [[0, 0], [900, 0], [900, 900]]
rules:
  - name: trucks
    kind: muck_truck
    camera: cam
    zone: road
"""


@needs_data
@pytest.mark.parametrize(
    ("model", "expected"),
    [
        # A three-class model: a muck-truck rule (and the bike rule) could never fire.
        (lambda p: _tiny_model(p, [1, 7, 100], "{0: 'a', 1: 'b', 2: 'c'}"), "reports none of ['bus', 'truck']"),
        (lambda p: _tiny_model(p, [1, 7, 100], "{0: 'a', 1: 'b', 2: 'c'}", task="segment"), "YOLO segment model"),
        (lambda p: p.write_bytes(b"\x08\x07 not protobuf" * 20) and p, "not a readable ONNX model"),
        (lambda p: p.with_name("absent.onnx"), "model file not found"),
    ],
)
def test_check_config_refuses_a_yolo_model_that_cannot_serve_the_rules(tmp_path: Path, capsys, model, expected) -> None:
    path = model(tmp_path / "model.onnx")
    detector = f"detector:\n  type: yolo\n  model_path: {path}\n  runtime: onnxruntime\nstorage:\n"
    text = config(tmp_path, "storage:\n", detector).read_text()
    (tmp_path / "config.yaml").write_text(text.replace("rules:\n", MUCK_RULE, 1))
    fails_cleanly(["check-config", str(tmp_path / "config.yaml")], capsys, expected)
    fails_cleanly(["run", "--config", str(tmp_path / "config.yaml"), "--no-push"], capsys, expected)


@needs_data
def test_an_unregistered_model_stops_the_run_unless_a_fallback_is_named(tmp_path: Path, capsys) -> None:
    detector = "detector:\n  type: yolo\n  model: not-registered-here\nstorage:\n"
    path = config(tmp_path, "storage:\n", detector)
    fails_cleanly(["check-config", str(path)], capsys, "model 'not-registered-here' is not in the catalog")
    path.write_text(path.read_text().replace("not-registered-here\n", "not-registered-here\n  fallback: nanodet\n"))
    assert main(["check-config", str(path)]) == 0
    assert "detection will be weak" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["serve", "--port", "70000"], "a TCP port is a whole number from 1 to 65535"),
        (["serve", "--port", "-1"], "a TCP port"),
        (["serve", "--development", "--host", "999.1.1.1", "--port", "8999"], "cannot listen on '999.1.1.1'"),
        (
            ["serve", "--development", "--database-url", "sqlite:////proc/nonsite/x.db", "--port", "8999"],
            "cannot open the database",
        ),
        (
            ["serve", "--development", "--database-url", "mysql://u:p@127.0.0.1:1/db", "--port", "8999"],
            "needs a driver",
        ),
        (
            [
                "serve",
                "--development",
                "--database-url",
                "postgresql+psycopg://u:s3cret@127.0.0.1:1/db",
                "--port",
                "8999",
            ],
            "cannot open the database 'postgresql+psycopg://u:***@127.0.0.1:1/db'",
        ),
        (["plates", "x.jpg", "--min-confidence", "nan"], "a confidence is a number from 0 to 1"),
        (["plates", "x.jpg", "--min-confidence", "5"], "a confidence is a number from 0 to 1"),
        (["outbox", "push", "--config", "c.yaml", "--deadline", "-3"], "seconds must be a finite number >= 0"),
    ],
)
def test_bad_arguments(argv: list[str], expected: str, capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NONSITE_EVIDENCE_DIR", str(tmp_path / "evidence"))
    fails_cleanly(argv, capsys, expected)


@needs_data
def test_bad_events_file_and_outbox(tmp_path: Path, capsys) -> None:
    path = config(tmp_path)
    fails_cleanly(["run", "--config", str(path), "--no-push", "--events-out", str(tmp_path)], capsys, "events file")
    other = tmp_path / "other"
    other.mkdir()
    (other / "outbox.sqlite").write_text("not a database")
    path = config(other)
    fails_cleanly(["outbox", "push", "--config", str(path), "--deadline", "0"], capsys, "cannot open the outbox")
    fails_cleanly(["check-config", str(path)], capsys, "is not an SQLite outbox")


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ("file,class,x1,y1\na.jpg,truck,1,2\n", "missing column(s) x2, y2"),
        ("file,class,x1,y1,x2,y2\na.jpg,truck,abc,2,3,4\n", "coordinates must be numbers"),
        ("file,class,x1,y1,x2,y2\na.jpg,truck,30,2,3,4\n", "x2 > x1"),
        ("file,class,x1,y1,x2,y2\na.jpg,truck,nan,2,3,4\n", "must be finite"),
        ("file,class,x1,y1,x2,y2\na.jpg,truck,,,,\n", "has no box"),
        ("file,class,x1,y1,x2,y2\n../../etc/passwd,image:x,,,,\n", "must be a path inside"),
        ("file,class,x1,y1,x2,y2\n", "no labels found"),
    ],
)
def test_malformed_label_files(tmp_path: Path, capsys, labels: str, expected: str) -> None:
    (tmp_path / "labels.csv").write_text(labels)
    fails_cleanly(["eval", str(tmp_path)], capsys, expected)
