"""Config reload while ``nonsite run`` serves (SIGHUP): cameras added, removed or changed start and stop
without touching the others.

A camera counts as changed when its own section or any of its rules differ; it is stopped (open violations
end and are sealed) and started again with the new settings. Sections shared by every camera (detector,
tracker, storage, api, metrics, database, timezone) need a restart: a reload says which ones changed and keeps
the running values. A config that does not load is reported and changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import ConfigError, NonsiteConfig, load_config
from pipeline.runtime import CameraParts, Runtime

logger = logging.getLogger(__name__)

SHARED_SECTIONS = ("detector", "tracker", "storage", "api", "metrics", "database", "timezone")


@dataclass(frozen=True)
class ReloadPlan:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    needs_restart: tuple[str, ...]  # shared sections that differ: kept as they are until a restart

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _camera_view(config: NonsiteConfig, camera_id: str) -> dict[str, Any]:
    """What decides a camera's behaviour: its section (secrets included, compared, never printed) and rules."""
    camera = config.camera(camera_id)
    inputs = [i.url.get_secret_value() if i.url else None for i in camera.inputs]
    rules = [r.model_dump(mode="json") for r in config.rules if r.camera == camera_id]
    return {"camera": camera.model_dump(mode="json"), "urls": inputs, "rules": rules}


def plan_reload(old: NonsiteConfig, new: NonsiteConfig) -> ReloadPlan:
    old_ids, new_ids = [c.id for c in old.cameras], [c.id for c in new.cameras]
    kept = [i for i in new_ids if i in old_ids]
    return ReloadPlan(
        added=tuple(i for i in new_ids if i not in old_ids),
        removed=tuple(i for i in old_ids if i not in new_ids),
        changed=tuple(i for i in kept if _camera_view(old, i) != _camera_view(new, i)),
        needs_restart=tuple(name for name in SHARED_SECTIONS if getattr(old, name) != getattr(new, name)),
    )


class Reloader:
    """Holds the running config; :meth:`apply` reads the file again and changes the runtime to match."""

    def __init__(
        self,
        path: Path,
        config: NonsiteConfig,
        runtime: Runtime,
        build: Callable[[NonsiteConfig, str], CameraParts],
        view: Callable[[NonsiteConfig], NonsiteConfig] = lambda config: config,
    ) -> None:
        """``view``: the part of a loaded file this process runs (``nonsite run --processes``: its cameras)."""
        self.path, self.config, self.runtime, self.build, self.view = path, config, runtime, build, view

    def apply(self) -> ReloadPlan | None:
        """None when the new config does not load (the error is logged; nothing changes)."""
        try:
            new = self.view(load_config(self.path))
        except ConfigError as exc:
            logger.error("config reload refused, nothing changed: %s", exc)
            return None
        plan = plan_reload(self.config, new)
        if plan.needs_restart:
            logger.warning("config reload: %s changed; restart nonsite run to apply", ", ".join(plan.needs_restart))
        running_ids = set(self.runtime.health())
        for camera_id in (*plan.removed, *plan.changed):
            if camera_id in running_ids:  # one that failed to start before is simply not running
                self.runtime.remove_camera(camera_id)
        self._wait_gone({*plan.removed, *plan.changed})
        # The shared sections stay as they run; only the cameras and their rules come from the new file.
        running = self.config.model_copy(update={"cameras": new.cameras, "rules": new.rules})
        failed = [camera_id for camera_id in (*plan.changed, *plan.added) if not self._start(running, camera_id)]
        # A camera that did not start is left out of what is recorded as running: the next reload tries it again.
        self.config = running.model_copy(
            update={
                "cameras": [c for c in new.cameras if c.id not in failed],
                "rules": [r for r in new.rules if r.camera not in failed],
            }
        )
        logger.info(
            "config reloaded: added %s, removed %s, restarted %s",
            list(plan.added),
            list(plan.removed),
            list(plan.changed),
        )
        return plan

    def _start(self, config: NonsiteConfig, camera_id: str) -> bool:
        try:
            parts = self.build(config, camera_id)
        except Exception as exc:  # one camera that cannot start must not stop the reload of the others
            logger.error("config reload: camera %s not started: %s", camera_id, exc)
            return False
        try:
            self.runtime.add_camera(parts)
        except Exception as exc:
            logger.error("config reload: camera %s not started: %s", camera_id, exc)
            parts.source.close()  # its capture must not keep a session with the camera open
            return False
        return True

    def _wait_gone(self, camera_ids: set[str], timeout_s: float = 60.0) -> None:
        """A changed camera starts again only once its old self has sealed and left (same id, same evidence)."""
        deadline = time.monotonic() + timeout_s
        while camera_ids & set(self.runtime.health()) and time.monotonic() < deadline:
            time.sleep(0.1)
