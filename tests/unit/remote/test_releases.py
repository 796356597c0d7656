"""Release records and the rollback run, on a fake host (fake compose, no Docker needed)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from remote.kit.procs import Result
from remote.protocol import Exit
from remote.run import releases
from remote.run.state import State
from tests.unit.remote.conftest import FakeHost

OLD = "20261101T000000Z-aaaaaa"
NEWER = "20261102T000000Z-bbbbbb"


def _record(root: Path, run_id: str, **fields: Any) -> None:
    folder = root / "state" / "deploy" / "releases"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{run_id}.json").write_text(json.dumps({"run_id": run_id, **fields}))


def _last_good(root: Path, run_id: str) -> None:
    (root / "state" / "deploy" / "last_good").write_text(run_id + "\n")


def test_a_fresh_run_clears_the_state_but_keeps_the_releases(tmp_path: Path) -> None:
    """State.clear() removes markers and summary, never releases/ or last_good."""
    _record(tmp_path, OLD)
    _last_good(tmp_path, OLD)
    (tmp_path / "state" / "deploy" / "stage_prepare_complete").write_text("")
    State(str(tmp_path / "state" / "deploy")).clear()
    assert sorted(p.name for p in (tmp_path / "state" / "deploy").iterdir()) == [
        "last_good",
        "releases",
    ]
    assert (tmp_path / "state" / "deploy" / "releases" / f"{OLD}.json").exists()


def test_choose_target_goes_back_past_the_current_release_only(tmp_path: Path) -> None:
    """After a completed run, the one before it; after a failed one, last_good itself."""
    _record(tmp_path, OLD)
    _record(tmp_path, NEWER)
    _last_good(tmp_path, NEWER)
    assert releases.choose_target(str(tmp_path), None, NEWER) == OLD
    assert releases.choose_target(str(tmp_path), None, "20261103T000000Z-failed") == NEWER
    assert releases.choose_target(str(tmp_path), OLD, NEWER) == OLD


def test_choose_target_without_an_earlier_release_says_so(tmp_path: Path) -> None:
    """Only the current release, or an unknown --to: a clear RollbackError."""
    _record(tmp_path, OLD)
    _last_good(tmp_path, OLD)
    with pytest.raises(releases.RollbackError, match="no earlier release"):
        releases.choose_target(str(tmp_path), None, OLD)
    with pytest.raises(releases.RollbackError, match=f"no release {NEWER}.*releases: {OLD}"):
        releases.choose_target(str(tmp_path), NEWER, OLD)


def test_a_pushed_revision_is_read_from_the_repo_link(tmp_path: Path) -> None:
    """R/repo as a symlink to R/.fleet/revisions/<rev>: the revision is push:<rev>."""
    target = tmp_path / ".fleet" / "revisions" / "r42"
    target.mkdir(parents=True)
    (tmp_path / "repo").symlink_to(target)
    revision = releases.source_revision(str(tmp_path / "repo"))
    assert (revision["source"], revision["id"]) == ("push", "r42")
    assert releases.source_revision(str(target))["source"] is None  # a plain folder


def test_only_the_newest_ten_are_kept_and_only_unshared_tags_are_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """12 records: the 2 oldest go; of their tags, the one no kept release names is removed,
    and only because its image has another name (fleet never deletes an image)."""
    ids = [f"202611{day:02d}T000000Z-000000" for day in range(1, 13)]
    for index, run_id in enumerate(ids):
        image = "sha256:" + ("0" if index == 0 else "1") * 64
        _record(tmp_path, run_id, services={"web": {"app": {"image": image}}})
    calls: list[list[str]] = []

    def fake_run(argv: list[str], timeout: float) -> Result:
        calls.append(argv)
        return Result(0, "2\n" if "inspect" in argv else "", "", False, 1)

    monkeypatch.setattr(releases.procs, "run", fake_run)
    releases._prune(str(tmp_path), 5)
    assert [r["run_id"] for r in releases.list_releases(str(tmp_path))] == ids[::-1][:10]
    tag = "fleet-release/web.app:000000000000"
    assert calls == [
        ["docker", "image", "inspect", "--format", "{{len .RepoTags}}", tag],
        ["docker", "image", "rm", "--no-prune", tag],
    ]


def test_a_completed_run_records_its_release_and_last_good(fake_host: FakeHost) -> None:
    """complete writes releases/<run_id>.json and last_good, with a release_recorded event."""
    fake_host.add_service("alpha")
    outcome = fake_host.run()
    assert outcome.code == Exit.OK
    record = json.loads((fake_host.state / "releases" / f"{fake_host.run_id}.json").read_text())
    assert record["run_id"] == fake_host.run_id and record["kind"] == "deploy"
    assert record["revision"]["source"] is None  # the fake repo is a plain folder
    assert set(record["services"]) == {"alpha"}
    assert (fake_host.state / "last_good").read_text().strip() == fake_host.run_id
    assert outcome.named("release_recorded")[0]["path"].endswith(f"{fake_host.run_id}.json")


def test_a_rollback_deploys_the_recorded_revision_pinned_by_image_id(
    fake_host: FakeHost,
) -> None:
    """The pushed revision's definition, the host's override, then the pins as the last -f."""
    fake_host.add_service("alpha", override=True)
    revision = fake_host.root / ".fleet" / "revisions" / "r1" / "services" / "alpha"
    revision.mkdir(parents=True)
    (revision / "compose.yaml").write_text("services:\n  app:\n    image: old\n")
    _record(
        fake_host.root,
        OLD,
        revision={"source": "push", "id": "r1"},
        services={"alpha": {"app": {"image": "sha256:old", "config_hash": "h"}}},
    )
    _last_good(fake_host.root, OLD)
    fake_host.write_plan(kind="rollback")
    outcome = fake_host.run()
    assert outcome.code == Exit.OK, outcome.stdout.decode()
    pins = fake_host.root / ".fleet" / "releases" / OLD / "pins" / "alpha.json"
    assert json.loads(pins.read_text()) == {
        "services": {"app": {"image": "sha256:old", "pull_policy": "never"}}
    }
    argv = fake_host.calls("up")[0]["argv"]
    override = str(fake_host.root / "config" / "alpha" / "docker-compose.override.yml")
    assert argv[:7] == ["-p", "alpha", "-f", str(revision / "compose.yaml"), "-f", override, "-f"]
    assert argv[7] == str(pins) and argv[-2:] == ["--pull", "never"]
    record = json.loads((fake_host.state / "releases" / f"{fake_host.run_id}.json").read_text())
    assert record["kind"] == "rollback" and record["rollback_of"] == OLD
    assert record["revision"] == {"source": "push", "id": "r1"}


def test_a_rollback_with_nothing_to_go_back_to_fails_in_prepare(fake_host: FakeHost) -> None:
    """Only the current release: prepare fails with the reason, compose is never run, and
    the previous run's state (summary, markers) stands untouched."""
    fake_host.add_service("alpha")
    assert fake_host.run().code == Exit.OK
    before = {p.name: p.read_bytes() for p in fake_host.state.rglob("*") if p.is_file()}
    fake_host.reset_calls()
    fake_host.write_plan(kind="rollback", run_id="20261127T050000Z-000001")
    outcome = fake_host.run()
    assert outcome.code == Exit.FAILED
    failed = outcome.named("run_failed")[0]
    assert failed["stage"] == "prepare" and "no earlier release" in failed["message"]
    assert fake_host.calls() == []
    after = {p.name: p.read_bytes() for p in fake_host.state.rglob("*") if p.is_file()}
    assert {k: v for k, v in after.items() if k != "lock"} == {
        k: v for k, v in before.items() if k != "lock"
    }


def test_a_resumed_rollback_stays_a_rollback_to_the_same_release(fake_host: FakeHost) -> None:
    """`fleet resume` sends kind resume: the state's rollback target still picks the files."""
    fake_host.add_service("alpha")
    revision = fake_host.root / ".fleet" / "revisions" / "r1" / "services" / "alpha"
    revision.mkdir(parents=True)
    (revision / "compose.yaml").write_text("services:\n  app:\n    image: old\n")
    _record(fake_host.root, OLD, revision={"source": "push", "id": "r1"},
            services={"alpha": {"app": {"image": "sha256:old"}}})  # fmt: skip
    fake_host.write_plan(kind="rollback")
    fake_host.control = {"health": {"alpha": "unhealthy"}}
    assert fake_host.run().code == Exit.FAILED
    fake_host.control = {}
    fake_host.reset_calls()
    fake_host.write_plan(kind="resume")
    assert fake_host.run("--resume").code == Exit.OK
    assert fake_host.calls("up") == []  # deploy was done; verify passes now
    assert fake_host.calls("ps")  # verified the rollback's project
    record = json.loads((fake_host.state / "releases" / f"{fake_host.run_id}.json").read_text())
    assert record["rollback_of"] == OLD


def test_image_ids_and_config_hashes_come_from_the_compose_labels() -> None:
    """verify's `ps --format json` listing: labels as one string, config_files with a comma."""
    labels = (
        "com.docker.compose.config-hash=abc,com.docker.compose.image=sha256:42,"
        "com.docker.compose.project.config_files=/r/compose.yaml,/r/pins.json,"
        "com.docker.compose.service=app"
    )

    ctx = SimpleNamespace(containers={"web": [{"ID": "c1", "Service": "app", "Labels": labels}]})
    found = releases.service_images(ctx, "web")  # type: ignore[arg-type]
    assert found == {"app": {"image": "sha256:42", "config_hash": "abc"}}
