"""Replaying a file files nothing new: violation ids come from the file's bytes and stream time, not the clock."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from pipeline.cli import main
from tests.conftest import LiveServer, bearer, needs_data, settings_for, write_sample_config

CAMERA = "hunan-street-27"


@needs_data
def test_the_same_file_run_twice_with_and_without_a_start_time_gives_one_ticket(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    with LiveServer(settings) as live:
        first_root, second_root = tmp_path / "first", tmp_path / "second"
        first_root.mkdir()
        second_root.mkdir()
        first = write_sample_config(first_root, api_url=live.url)
        second = write_sample_config(second_root, api_url=live.url)
        text, removed = re.subn(r"(?m)^ *start_time: .*\n", "", second.read_text(encoding="utf-8"))
        assert removed == 2
        second.write_text(text, encoding="utf-8")  # wall time now comes from this machine's clock
        for config in (first, second):  # separate outboxes and stores: only the API can notice the replay
            assert main(["run", "--config", str(config), "--camera", CAMERA, "--push-deadline", "10"]) == 0
        tickets = httpx.get(f"{live.url}/api/v1/tickets", headers=bearer("officer")).json()
    assert tickets["total"] == 1, [t["violation_id"] for t in tickets["items"]]
    (ticket,) = tickets["items"]
    assert ticket["camera"] == CAMERA and ticket["state"] == "ended"
    # Both runs pushed a start and an end; the second run's were replays of keys the API already had.
    assert [e["state"] for e in ticket["events"]] == ["start", "end"]
