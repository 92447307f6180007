"""A non-editable install (a built wheel, away from the checkout) finds its data files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO

PROBE = """
from pathlib import Path
import api.app, detectors.attributes.truck_cover as cover
from api.app import create_app
from api.settings import Settings
assert "site-packages" not in str(cover.__file__) and "{repo}" not in str(cover.__file__), cover.__file__
cover.CoverHead.load()                       # the shipped head is package data
from api.db import make_engine, migrate
settings = Settings(database_url="sqlite:///{tmp}/db.sqlite", evidence_dir=Path("{tmp}/evidence"), development=True)
migrate(make_engine(settings.database_url))  # the migrations ship in the package (`nonsite db upgrade`)
app = create_app(settings)
from fastapi.testclient import TestClient
with TestClient(app) as client:              # the web page is served
    assert client.get("/officer").status_code == 200
    assert client.get("/api/v1/tickets").status_code == 401  # accounts: nobody reads tickets unsigned
print("ok")
"""


def test_a_built_wheel_carries_the_head_page_and_migrations(tmp_path: Path) -> None:
    source = tmp_path / "source"  # built from a copy: setuptools leaves build/ beside the sources
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        source.mkdir(exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    for package in ("pipeline", "detectors", "evidence", "api"):
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(source), "-w", str(tmp_path / "dist")],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("nonsite-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "detectors/attributes/truck_cover.json",
        "api/web/officer.html",
        "api/migrations/env.py",
        "api/migrations/versions/0002_violation_life_cycle.py",
    ):
        assert needed in names, needed
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # The checkout must not be importable: run from elsewhere with only the unpacked wheel on the path.
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    code = PROBE.format(repo=REPO, tmp=tmp_path)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
