"""Runs recorded on the controller: $XDG_STATE_HOME/fleet/runs/<run_id>/.

report.json                  the --json object, exactly
meta.json                    controller-side extras (problems, warnings, connections)
hosts/<name>.log             the host's run log as streamed
hosts/<name>.diagnostics.txt the host's diagnostics file, fetched on failure
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from .errors import RunNotFound
from .model import FleetReport

_RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$")


def state_dir(env: dict[str, str] | None = None) -> Path:
    """$XDG_STATE_HOME/fleet, default ~/.local/state/fleet."""
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "fleet"


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


class _FileLog:
    """A host's log file, opened on the first line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None

    def write(self, data: bytes) -> None:
        if self._file is None:
            self._file = self.path.open("ab")
        self._file.write(data)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class RunRecorder:
    """Records one run as it goes (logs) and at its end (report)."""

    def __init__(self, root: Path, run_id: str) -> None:
        self.dir = root / "runs" / run_id
        (self.dir / "hosts").mkdir(parents=True, exist_ok=True)

    def host_log(self, host: str) -> _FileLog:
        return _FileLog(self.dir / "hosts" / f"{host}.log")

    def diagnostics_path(self, host: str) -> Path:
        return self.dir / "hosts" / f"{host}.diagnostics.txt"

    def save_diagnostics(self, host: str, text: str) -> str:
        path = self.diagnostics_path(host)
        _write_atomic(path, text)
        return str(path)

    def save(self, report: FleetReport) -> None:
        _write_atomic(self.dir / "meta.json", json.dumps(report.meta_json(), indent=2) + "\n")
        _write_atomic(self.dir / "report.json", json.dumps(report.to_json(), indent=2) + "\n")


class RunStore:
    """The recorded runs under the state dir."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def new_run(self, run_id: str) -> RunRecorder:
        return RunRecorder(self.root, run_id)

    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    def run_ids(self) -> list[str]:
        """Recorded runs that have a report, oldest first (run ids sort by time)."""
        runs = self.root / "runs"
        if not runs.is_dir():
            return []
        return sorted(
            p.name
            for p in runs.iterdir()
            if _RUN_ID.match(p.name) and (p / "report.json").is_file()
        )

    def load(self, run_id: str | None = None) -> FleetReport:
        """A recorded run's report; None means the latest."""
        if run_id is None:
            ids = self.run_ids()
            if not ids:
                raise RunNotFound(f"no run recorded yet under {self.root / 'runs'}")
            run_id = ids[-1]
        if not _RUN_ID.match(run_id) or not (self.run_dir(run_id) / "report.json").is_file():
            raise RunNotFound(
                f"no recorded run {run_id!r} under {self.root / 'runs'}",
                hint="`fleet report` without an id shows the latest run",
            )
        folder = self.run_dir(run_id)
        data: dict[str, Any] = json.loads((folder / "report.json").read_text())
        meta_path = folder / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else None
        report = FleetReport.from_json(data, meta)
        for name, host in report.hosts.items():
            diag = folder / "hosts" / f"{name}.diagnostics.txt"
            if diag.is_file():
                host.diagnostics_text = diag.read_text(errors="replace")
        return report
