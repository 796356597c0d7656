"""State files: atomic writes, markers, and a clear that keeps the lock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from remote.kit import atomic as state_module
from remote.kit.atomic import atomic_write
from remote.run.state import State


def test_atomic_write_replaces_content_and_leaves_no_temp_files(tmp_path: Path) -> None:
    """The new content lands whole; no temp file is left beside it."""
    target = tmp_path / "current_stage"
    atomic_write(str(target), b"prepare\n")
    atomic_write(str(target), b"deploy\n")
    assert target.read_bytes() == b"deploy\n"
    assert os.listdir(tmp_path) == ["current_stage"]


def test_atomic_write_crash_before_rename_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after writing the temp file (fsync, say) leaves the old content intact."""
    target = tmp_path / "last_service"
    atomic_write(str(target), b"alpha\n")

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(state_module.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        atomic_write(str(target), b"bravo\n")
    assert target.read_bytes() == b"alpha\n"
    assert os.listdir(tmp_path) == ["last_service"]


def test_atomic_write_fsyncs_file_then_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both the file and its folder are fsynced (the rename must survive a crash too)."""
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(state_module.os, "fsync", recording_fsync)
    atomic_write(str(tmp_path / "marker"), b"")
    assert len(synced) == 2
    assert synced[0].startswith(str(tmp_path / ".marker."))
    assert synced[1] == str(tmp_path)


def test_markers_and_completed_stages_in_stage_order(tmp_path: Path) -> None:
    """completed_stages lists markers in the order of the stages, not of creation."""
    state = State(str(tmp_path))
    state.mark_complete("deploy")
    state.mark_complete("prepare")
    assert state.completed_stages() == ["prepare", "deploy"]
    assert (tmp_path / "stage_deploy_complete").exists()
    state.unmark("deploy")
    assert state.completed_stages() == ["prepare"]


def test_clear_keeps_only_the_lock(tmp_path: Path) -> None:
    """A fresh run forgets markers, last_service, summary, current_stage; not the lock."""
    state = State(str(tmp_path))
    state.mark_complete("prepare")
    state.set_current_stage("deploy")
    state.set_last_service("alpha")
    state.write_summary({"status": "failed"})
    (tmp_path / "lock").write_text("")
    state.clear()
    assert os.listdir(tmp_path) == ["lock"]
    assert state.current_stage is None and state.last_service is None


def test_current_stage_and_last_service_round_trip(tmp_path: Path) -> None:
    """The one-word files read back what was written (with a trailing newline on disk)."""
    state = State(str(tmp_path))
    state.set_current_stage("verify")
    state.set_last_service("bravo")
    assert (state.current_stage, state.last_service) == ("verify", "bravo")
    assert (tmp_path / "current_stage").read_text() == "verify\n"
