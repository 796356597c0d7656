"""The host's deployment state under R/state/deploy, written atomically."""

from __future__ import annotations

import os

from remote.kit.atomic import atomic_write, fsync_dir, write_json
from remote.kit.jsonio import read_object
from remote.protocol import LOCK_FILE, STAGES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

LOCK_NAME = os.path.basename(LOCK_FILE)
# What a fresh run keeps besides its lock: the release history (remote/run/releases.py).
KEPT_NAMES = (LOCK_NAME, "releases", "last_good")


class State(object):
    """current_stage, last_service, stage_<name>_complete markers and summary.json."""

    def __init__(self, state_dir: str) -> None:
        self.dir = state_dir

    def clear(self) -> None:
        """Forget the previous run, keeping the lock file that guards this one and the
        releases."""
        if not os.path.isdir(self.dir):
            return
        for name in os.listdir(self.dir):
            if name in KEPT_NAMES:
                continue
            path = os.path.join(self.dir, name)
            if os.path.isdir(path) and not os.path.islink(path):
                import shutil  # rarely needed; kept off every start's import path

                shutil.rmtree(path)
            else:
                os.unlink(path)
        fsync_dir(self.dir)

    @property
    def current_stage(self) -> Optional[str]:
        return self._read_word("current_stage")

    # current_stage, last_service and the markers are renamed into place without the
    # folder's fsync (on an SD card each costs more than the step it records): a power
    # cut may lose the latest, and a resume then redoes that stage or service, which is
    # safe (config, `up -d` and healthchecks are idempotent). clear() and unmark() do
    # sync: a marker that came back from a previous run would skip a stage.
    def set_current_stage(self, stage: str) -> None:
        atomic_write(self._path("current_stage"), (stage + "\n").encode(), durable=False)

    @property
    def last_service(self) -> Optional[str]:
        return self._read_word("last_service")

    def set_last_service(self, service: str) -> None:
        atomic_write(self._path("last_service"), (service + "\n").encode(), durable=False)

    def is_complete(self, stage: str) -> bool:
        return os.path.exists(self._marker(stage))

    def mark_complete(self, stage: str) -> None:
        atomic_write(self._marker(stage), b"", durable=False)

    def unmark(self, stage: str) -> None:
        if self.is_complete(stage):
            os.unlink(self._marker(stage))
            fsync_dir(self.dir)

    def completed_stages(self) -> List[str]:
        return [stage for stage in STAGES if self.is_complete(stage)]

    def read_summary(self) -> Optional[Dict[str, Any]]:
        return read_object(self._path("summary.json"))

    def write_summary(self, summary: Dict[str, Any]) -> None:
        write_json(self._path("summary.json"), summary)

    def _path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def _marker(self, stage: str) -> str:
        return self._path("stage_%s_complete" % stage)

    def _read_word(self, name: str) -> Optional[str]:
        try:
            with open(self._path(name)) as handle:
                return handle.read().strip() or None
        except OSError:
            return None
