"""`kill -9` of the pipeline at random moments while it seals evidence and pushes tickets, repeated
(NONSITE_CRASH_ROUNDS, 20 by default): no file under a final name ever fails its hash, the outbox stays a
sound database, and after a last run to completion every violation is a ticket exactly once, with evidence
that verifies. The API runs throughout, so kills also land between a push and its recorded delivery."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import REPO, LiveServer, bearer, needs_data, settings_for, write_sample_config

ROUNDS = int(os.environ.get("NONSITE_CRASH_ROUNDS", "20"))
RUN_S = 25.0  # about how long one uninterrupted run of the two sample clips takes on this 2-core box (at most)


def _torn_objects(evidence: Path) -> list[str]:
    """Files under a final name whose bytes do not hash to it (temp files are unfinished writes: allowed)."""
    torn = []
    for path in (evidence / "objects").glob("*/*"):
        if path.name.startswith("."):
            continue
        if hashlib.sha256(path.read_bytes()).hexdigest() != path.name:
            torn.append(path.name)
    return torn


def _outbox_sound(path: Path) -> bool:
    if not path.exists():
        return True
    with sqlite3.connect(path) as connection:
        result: str = connection.execute("PRAGMA integrity_check").fetchone()[0]
    return result == "ok"


def _run(config: Path, events: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "pipeline.cli", "run", "--config", str(config), "--events-out", str(events)]
    return subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


@needs_data
def test_kill_9_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("NONSITE_CRASH_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    settings = settings_for(tmp_path)
    evidence, outbox = tmp_path / "evidence", tmp_path / "outbox.sqlite"
    kills: list[float] = []
    longest = RUN_S  # kill moments are drawn up to this; shortened when a run finishes sooner
    with LiveServer(settings) as live:
        config = write_sample_config(tmp_path, api_url=live.url)
        for round_ in range(ROUNDS):
            process = _run(config, tmp_path / f"events-{round_}.jsonl")
            moment, started = rng.uniform(1.0, longest), time.monotonic()
            try:
                assert process.wait(timeout=moment) == 0, f"seed {seed}, round {round_}: the run failed"
                longest = min(longest, 0.9 * (time.monotonic() - started))  # later kills land inside a run
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                kills.append(moment)
            context = f"seed {seed}, round {round_}, killed at {moment:.1f} s"
            assert _torn_objects(evidence) == [], context
            assert _outbox_sound(outbox), context

        final = _run(config, tmp_path / "events-final.jsonl")
        assert final.wait(timeout=300) == 0
        push = [sys.executable, "-m", "pipeline.cli", "outbox", "push", "--config", str(config)]
        assert subprocess.run(push, cwd=REPO, capture_output=True).returncode == 0
        lines = (tmp_path / "events-final.jsonl").read_text(encoding="utf-8").splitlines()
        violations = {json.loads(line)["id"] for line in lines}
        tickets = httpx.get(f"{live.url}/api/v1/tickets", params={"limit": 200}, headers=bearer("auditor")).json()
        filed = [t["violation_id"] for t in tickets["items"]]
        for ticket in tickets["items"]:
            report = httpx.get(f"{live.url}/api/v1/tickets/{ticket['id']}/integrity", headers=bearer("auditor"))
            assert report.json()["ok"], (seed, report.json())
    assert len(kills) >= ROUNDS // 2, f"seed {seed}: most rounds should be killed mid-run, not finish: {kills}"
    assert violations, "the clips hold violations: the reference run filed none"
    assert sorted(filed) == sorted(violations), f"seed {seed}: lost or extra tickets"  # each exactly once
    assert _torn_objects(evidence) == []
