"""`fleet rollback`'s plan and `fleet releases`' reading of a host's records."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

from controller import releases
from tests.unit.controller.fakes import FakeHost, make_host
from tests.unit.controller.test_fanout import deploy

OLD = "20261101T000000Z-aaaaaa"
NEW = "20261102T000000Z-bbbbbb"


def test_a_rollback_plan_says_its_kind_and_target() -> None:
    """rollback=True makes kind rollback; --to travels as rollback_to, absent otherwise."""
    fake = FakeHost(make_host("h"))
    deploy([fake], rollback=True, rollback_to=OLD)
    deploy([fake], rollback=True)
    deploy([fake])
    first, second, plain = fake.plans
    assert (first["kind"], first["rollback_to"]) == ("rollback", OLD)
    assert second["kind"] == "rollback" and "rollback_to" not in second
    assert plain["kind"] == "deploy" and "rollback_to" not in plain


def _host_root(tmp_path: Path) -> Path:
    folder = tmp_path / "state" / "deploy" / "releases"
    folder.mkdir(parents=True)
    for run_id in (OLD, NEW):
        record = {
            "run_id": run_id,
            "kind": "deploy",
            "finished": "2026-11-02T00:00:00Z",
            "revision": {"source": "git", "id": "c0ffee", "path": "/r"},
            "rollback_of": None,
            "services": {"web": {"app": {"image": "sha256:" + "1" * 64, "config_hash": "h"}}},
        }
        (folder / f"{run_id}.json").write_text(json.dumps(record, indent=2))
    (tmp_path / "state" / "deploy" / "last_good").write_text(NEW + "\n")
    return tmp_path


def test_the_releases_script_reads_every_record_and_last_good(tmp_path: Path) -> None:
    """The real sh script on a real folder: newest first, the current one marked."""
    root = _host_root(tmp_path)
    out = subprocess.run(
        shlex.split(releases.releases_command(str(root))), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    found = releases.parse_releases("nas", out.stdout).to_json()
    assert found["last_good"] == NEW and found["error"] is None
    assert [(r["run_id"], r["current"]) for r in found["releases"]] == [(NEW, True), (OLD, False)]
    assert found["releases"][0]["revision"] == "git:c0ffee"
    assert found["releases"][0]["services"] == {"web": {"app": "sha256:" + "1" * 64}}


def test_a_host_without_releases_lists_none(tmp_path: Path) -> None:
    """No state at all: no releases, no last_good, not an error."""
    out = subprocess.run(
        shlex.split(releases.releases_command(str(tmp_path))), capture_output=True, text=True
    )
    found = releases.parse_releases("nas", out.stdout)
    assert out.returncode == 0 and found.releases == [] and found.last_good is None
