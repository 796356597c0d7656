"""Releases and rollback end to end: a git checkout on a real sshd host, real Docker images
told apart by ID, `fleet rollback` with the git remote gone and no registry anywhere."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from tests.e2e.support import Fleet, host_logs, struct_events
from tests.lab import BUSYBOX_IMAGE, Lab, busybox_compose, project_container_ids

MakeLab = Callable[[Iterable[str]], Lab]

pytestmark = pytest.mark.e2e


def _run(*argv: str, cwd: Path | None = None) -> str:
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout


def _image_id(ref: str) -> str:
    return _run("docker", "image", "inspect", "--format", "{{.Id}}", ref).strip()


def _running_images(project: str) -> list[str]:
    ids = project_container_ids(project)
    return [_run("docker", "inspect", "--format", "{{.Image}}", cid).strip() for cid in ids]


@pytest.fixture
def app_images(unique: str) -> Iterator[dict[str, str]]:
    """Two local images with IDs of their own (docker commit: no build, no registry):
    {"repo": NAME, "v1": ID, "v2": ID}; they and fleet's release tags go at teardown."""
    repo = f"h16-app-{unique}"
    images = {"repo": repo}
    for version in ("v1", "v2"):
        cid = _run("docker", "create", BUSYBOX_IMAGE, "true").strip()
        try:
            _run("docker", "commit", "--change", f"LABEL h16.version={version}", cid,
                 f"{repo}:{version}")  # fmt: skip
        finally:
            _run("docker", "rm", "-f", cid)
        images[version] = _image_id(f"{repo}:{version}")
    yield images
    refs = _run(
        "docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
        "--filter", f"reference=fleet-release/h16-*{unique}*",
    ).split()  # fmt: skip
    subprocess.run(["docker", "image", "rm", "-f", *refs, images["v1"], images["v2"]],
                   capture_output=True)  # fmt: skip


class GitSource:
    """A bare origin, a working clone to commit service versions in, and the host's
    checkout of it at R/repo."""

    def __init__(self, tmp: Path, host_repo: Path, svc: str) -> None:
        self.origin = tmp / "origin.git"
        self.work = tmp / "work"
        self.svc = svc
        _run("git", "init", "-q", "--bare", "-b", "main", str(self.origin))
        _run("git", "clone", "-q", str(self.origin), str(self.work))
        for key, value in (("user.email", "h16@lab"), ("user.name", "h16")):
            _run("git", "-C", str(self.work), "config", key, value)
        self.commit("empty", None)
        _run("git", "clone", "-q", str(self.origin), str(host_repo))

    def commit(self, message: str, compose: str | None) -> str:
        folder = self.work / "services" / self.svc
        folder.mkdir(parents=True, exist_ok=True)
        if compose is not None:
            (folder / "compose.yaml").write_text(compose)
        _run("git", "-C", str(self.work), "add", "-A")
        _run("git", "-C", str(self.work), "commit", "-q", "--allow-empty", "-m", message)
        _run("git", "-C", str(self.work), "push", "-q", "origin", "HEAD:main")
        return _run("git", "-C", str(self.work), "rev-parse", "HEAD").strip()


def _state_of(fleet: Fleet) -> dict[str, object]:
    """What `fleet status` says of nas, less how long the status read took."""
    entry = dict(fleet("status", "--hosts", "nas", "--json").host("nas"))
    entry.pop("duration_s")
    return entry


def _setup(make_lab: MakeLab, unique: str, tmp_path: Path) -> tuple[Lab, str, GitSource, Fleet]:
    lab = make_lab(["nas"])
    svc = f"h16-app-{unique}"
    lab.track_project(svc)
    source = GitSource(tmp_path, lab.hosts["nas"].root_dir / "repo", svc)
    inventory = lab.write_inventory(tmp_path / "hosts.yml", services={"nas": [svc]})
    return lab, svc, source, Fleet(tmp_path / "state", inventory)


def test_rollback_after_a_failed_verify_brings_back_v1_by_image_id_offline(
    make_lab: MakeLab, unique: str, tmp_path: Path, app_images: dict[str, str]
) -> None:
    """v1 healthy, v2 fails verify; with origin and tags gone, rollback runs v1's image IDs."""
    lab, svc, source, fleet = _setup(make_lab, unique, tmp_path)
    repo = app_images["repo"]
    v1_commit = source.commit("v1", busybox_compose(image=f"{repo}:v1"))
    first = fleet("deploy", "--hosts", "nas", "--json")
    assert first.code == 0, first.stderr
    v1_run = first.report["run_id"]
    assert _running_images(svc) == [app_images["v1"]]
    # Named by fleet too, so that v1's image is not dangling once its own tag moves on.
    assert _image_id(f"fleet-release/{svc}.app:{app_images['v1'][7:19]}") == app_images["v1"]

    v2_commit = source.commit("v2", busybox_compose(image=f"{repo}:v2", healthy=False))
    second = fleet("deploy", "--hosts", "nas", "--verify-timeout", "4", "--json")
    assert second.code == 1, second.stderr
    assert second.host("nas")["failed_stage"] == "verify"
    assert second.host("nas")["diagnostics"]
    assert _running_images(svc) == [app_images["v2"]]

    # Offline: the git remote is gone, and the v1 tag now names v2's image, so only a
    # rollback by recorded ID can bring v1 back (no registry exists to pull from).
    source.origin.rename(source.origin.with_suffix(".gone"))
    _run("docker", "tag", app_images["v2"], f"{repo}:v1")
    host_repo = lab.hosts["nas"].root_dir / "repo"

    back = fleet("rollback", "nas", "--json")
    assert back.code == 0, back.stderr + back.stdout
    assert back.host("nas")["status"] == "completed"
    assert _running_images(svc) == [app_images["v1"]]
    assert _run("git", "-C", str(host_repo), "rev-parse", "HEAD").strip() == v2_commit
    started = [e for e in struct_events(host_logs(lab, "nas")[-1].read_text())
               if e["event"] in ("run_started", "release_recorded")]  # fmt: skip
    assert started[0]["kind"] == "rollback" and started[-1]["event"] == "release_recorded"

    status = fleet("status", "--hosts", "nas", "--json")
    assert status.code == 0 and status.host("nas")["status"] == "completed"

    listed = fleet("releases", "nas", "--json")
    assert listed.code == 0, listed.stderr
    releases = listed.report["releases"]
    # v2 failed, so it left no release: v1's deploy and the rollback to it.
    assert [r["run_id"] for r in releases] == [back.report["run_id"], v1_run]
    assert [r["current"] for r in releases] == [True, False]
    assert releases[0]["kind"] == "rollback" and releases[0]["rollback_of"] == v1_run
    assert releases[1]["revision"] == releases[0]["revision"] == f"git:{v1_commit}"
    assert releases[0]["services"][svc] == {"app": app_images["v1"]}
    table = fleet("releases", "nas")
    assert table.code == 0 and v1_run in table.stdout and "current" in table.stdout


def test_rollback_without_an_earlier_release_fails_at_once_and_changes_nothing(
    make_lab: MakeLab, unique: str, tmp_path: Path, app_images: dict[str, str]
) -> None:
    """One release only (the current one): rollback fails in prepare with a clear line."""
    _, svc, source, fleet = _setup(make_lab, unique, tmp_path)
    source.commit("v1", busybox_compose(image=f"{app_images['repo']}:v1"))
    assert fleet("deploy", "--hosts", "nas", "--json").code == 0
    containers = project_container_ids(svc)
    record = json.loads(fleet("releases", "nas", "--json").stdout)
    status = _state_of(fleet)

    back = fleet("rollback", "nas", "--json")
    assert back.code == 1
    nas = back.host("nas")
    assert nas["failed_stage"] == "prepare"
    assert "no earlier release to roll back to" in nas["error"]
    assert project_container_ids(svc) == containers
    assert json.loads(fleet("releases", "nas", "--json").stdout) == record
    # The host's state is still the deploy's: `fleet status` reads it as before.
    assert _state_of(fleet) == status

    unknown = fleet("rollback", "nas", "--to", "20200101T000000Z-000000", "--json")
    assert unknown.code == 1
    assert "no release 20200101T000000Z-000000" in unknown.host("nas")["error"]
    assert project_container_ids(svc) == containers
