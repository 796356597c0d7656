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
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from controller.errors import RunNotFound
from controller.report.model import FleetReport

_RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$")


def state_dir(env: dict[str, str] | None = None) -> Path:
    """$XDG_STATE_HOME/fleet, default ~/.local/state/fleet."""
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "fleet"


def run_dir(root: Path, run_id: str) -> Path:
    """Where one run is recorded under the state dir."""
    return root / "runs" / run_id


def host_file(folder: Path, host: str, suffix: str) -> Path:
    """A host's file in a run's folder: suffix `.log` or `.diagnostics.txt`."""
    return folder / "hosts" / f"{host}{suffix}"


def write_atomic(path: str | Path, data: bytes, mode: int = 0o600) -> None:
    """Temp file beside path, fsync, rename: a crash never leaves half a file."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, (json.dumps(data, indent=2) + "\n").encode())


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
        self.dir = run_dir(root, run_id)
        (self.dir / "hosts").mkdir(parents=True, exist_ok=True)

    def host_log(self, host: str) -> _FileLog:
        return _FileLog(host_file(self.dir, host, ".log"))

    def save_diagnostics(self, host: str, text: str) -> None:
        write_atomic(host_file(self.dir, host, ".diagnostics.txt"), text.encode())

    def save(self, report: FleetReport) -> None:
        _write_json(self.dir / "meta.json", report.meta_json())
        _write_json(self.dir / "report.json", report.to_json())


class RunStore:
    """The recorded runs under the state dir."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def new_run(self, run_id: str) -> RunRecorder:
        return RunRecorder(self.root, run_id)

    def run_dir(self, run_id: str) -> Path:
        return run_dir(self.root, run_id)

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

    def recent(self, limit: int = 100) -> Iterator[FleetReport]:
        """The newest recorded runs first, at most `limit` of them (a resume looks back
        for its hosts' last run); a record that cannot be read is passed over."""
        for run_id in reversed(self.run_ids()[-limit:]):
            try:
                yield self.load(run_id)
            except (OSError, ValueError, KeyError, TypeError):
                continue

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
            diag = host_file(folder, name, ".diagnostics.txt")
            if diag.is_file():
                host.diagnostics_text = diag.read_text(errors="replace")
        return report
