"""Old runner versions on a host: a run keeps the current one and the one before it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from remote.protocol import Exit
from remote.run.runners import prune_runners, running_version, version_of
from tests.unit.remote.conftest import FakeHost

OLDEST, OLD, PREVIOUS, CURRENT, NEWER = (f"{n:016x}" for n in (1, 2, 3, 4, 5))


def add_version(root: Path, digest: str, mtime: float, unpacked: bool = True) -> None:
    """An archive of version `digest` uploaded at `mtime`, and its unpacked copy."""
    fleet = root / ".fleet"
    fleet.mkdir(parents=True, exist_ok=True)
    archive = fleet / f"fleet-runner-{digest}.pyz"
    archive.write_bytes(b"zip")
    os.utime(archive, (mtime, mtime))
    if unpacked:
        (fleet / f"fleet-runner-{digest}.d" / "remote").mkdir(parents=True)
        (fleet / f"fleet-runner-{digest}.d" / "__main__.py").write_text("")


def link_to(root: Path, digest: str) -> None:
    (root / ".fleet" / "fleet-runner.pyz").symlink_to(f"fleet-runner-{digest}.pyz")


def versions_left(root: Path) -> set[str]:
    return {d for d in (version_of(p.name) for p in (root / ".fleet").iterdir()) if d}


def test_keeps_current_and_previous_removes_older(tmp_path: Path) -> None:
    """Four versions: the two oldest go, archive and folder; the link, temp files and
    other files stay."""
    for age, digest in enumerate((OLDEST, OLD, PREVIOUS, CURRENT)):
        add_version(tmp_path, digest, 1000 + age)
    link_to(tmp_path, CURRENT)
    upload = tmp_path / ".fleet" / f"fleet-runner-{OLDEST}.pyz.tmp-ab12cd34"
    upload.write_bytes(b"in flight")
    (tmp_path / ".fleet" / "plan.json").write_text("{}")

    assert sorted(prune_runners(str(tmp_path), CURRENT)) == [OLDEST, OLD]
    assert versions_left(tmp_path) == {PREVIOUS, CURRENT}
    assert not (tmp_path / ".fleet" / f"fleet-runner-{OLD}.d").exists()
    assert upload.exists() and (tmp_path / ".fleet" / "plan.json").exists()
    assert (tmp_path / ".fleet" / "fleet-runner.pyz").resolve().exists()


def test_order_is_by_archive_mtime_not_name(tmp_path: Path) -> None:
    """The previous version is the newest other archive, whatever its hash."""
    add_version(tmp_path, NEWER, 1000)
    add_version(tmp_path, OLDEST, 2000)
    add_version(tmp_path, OLD, 3000)
    add_version(tmp_path, CURRENT, 4000)
    assert sorted(prune_runners(str(tmp_path), CURRENT)) == [OLDEST, NEWER]
    assert versions_left(tmp_path) == {OLD, CURRENT}


def test_never_removes_the_linked_or_a_later_upload(tmp_path: Path) -> None:
    """An older controller's run keeps the version uploaded after it (the link's), which
    counts as its previous one; only what is older than the run's own goes."""
    add_version(tmp_path, OLDEST, 1000)
    add_version(tmp_path, OLD, 2000)
    add_version(tmp_path, CURRENT, 3000)
    add_version(tmp_path, NEWER, 4000)
    link_to(tmp_path, NEWER)
    assert sorted(prune_runners(str(tmp_path), CURRENT)) == [OLDEST, OLD]
    assert versions_left(tmp_path) == {CURRENT, NEWER}


def test_folder_without_archive_and_leftovers_go(tmp_path: Path) -> None:
    """An unpacked folder whose archive is gone is a version too; a folder an earlier
    removal renamed is removed."""
    add_version(tmp_path, OLDEST, 1000)
    (tmp_path / ".fleet" / f"fleet-runner-{OLDEST}.pyz").unlink()
    os.utime(tmp_path / ".fleet" / f"fleet-runner-{OLDEST}.d", (1000, 1000))
    add_version(tmp_path, PREVIOUS, 2000)
    add_version(tmp_path, CURRENT, 3000)
    leftover = tmp_path / ".fleet" / f"fleet-runner-{OLD}.d.old-4242"
    leftover.mkdir()
    assert prune_runners(str(tmp_path), CURRENT) == [OLDEST]
    assert versions_left(tmp_path) == {PREVIOUS, CURRENT}
    assert not leftover.exists()


def test_unknown_current_removes_nothing(tmp_path: Path) -> None:
    """From a source tree (no version) or a version not on disk, nothing is touched."""
    for age, digest in enumerate((OLDEST, OLD, PREVIOUS)):
        add_version(tmp_path, digest, 1000 + age)
    assert prune_runners(str(tmp_path), None) == []
    assert prune_runners(str(tmp_path), CURRENT) == []
    assert versions_left(tmp_path) == {OLDEST, OLD, PREVIOUS}
    assert prune_runners(str(tmp_path / "nothing"), CURRENT) == []


def test_running_version_from_archive_or_unpacked_path(tmp_path: Path) -> None:
    """The version is read from the module's path inside the archive or its copy."""
    fleet = tmp_path / ".fleet"
    assert running_version(f"{fleet}/fleet-runner-{CURRENT}.d/remote/run/x.py") == CURRENT
    assert running_version(f"{fleet}/fleet-runner-{CURRENT}.pyz/remote/run/x.py") == CURRENT
    assert running_version(str(tmp_path / "remote" / "run" / "runners.py")) is None
    assert version_of(f"fleet-runner-{CURRENT}.pyz.tmp-1") is None
    assert version_of("fleet-runner-XYZ.pyz") is None


def test_a_run_prunes_at_its_start(
    three_services: FakeHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run started from a known version removes the older ones and says so."""
    fake_host = three_services
    root = fake_host.root
    for age, digest in enumerate((OLDEST, OLD, PREVIOUS, CURRENT)):
        add_version(root, digest, 1000 + age)
    monkeypatch.setattr("remote.run.runners.running_version", lambda: CURRENT)
    outcome = fake_host.run()
    assert outcome.code == Exit.OK, outcome.stderr
    assert versions_left(root) == {PREVIOUS, CURRENT}
    assert b"removed old runner versions" in outcome.stdout
