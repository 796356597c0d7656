"""Manifest building and the push exchange (controller/push.py) against the real receiver."""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from controller.deploy.push import parse_answer, push_source
from controller.job.manifest import PushError, build_manifest
from controller.transport.connector import CommandResult
from remote import source


def make_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    web = repo / "services" / "web"
    (web / "conf").mkdir(parents=True)
    (web / "compose.yaml").write_text("services: {}\n")
    (web / "healthcheck.sh").write_text("exit 0\n")
    (web / "healthcheck.sh").chmod(0o755)
    (web / "conf" / "site.conf").write_text("x\n")
    os.symlink("conf/site.conf", web / "site.conf")
    (repo / "services" / "other").mkdir()
    (repo / "services" / "other" / "compose.yaml").write_text("secret elsewhere\n")
    (repo / "config").mkdir()
    (repo / "config" / ".env").write_text("TOKEN=1\n")
    return repo


def entries(repo: Path, services: Sequence[str]) -> dict[str, dict[str, object]]:
    return {str(e["path"]): e for e in build_manifest(repo, services).entries}


def test_manifest_keeps_modes_and_links_of_the_hosts_services_only(tmp_path: Path) -> None:
    """Only services/web/ is listed; the executable bit and the inner symlink are kept."""
    found = entries(make_repo(tmp_path), ["web"])
    assert sorted(found) == [
        "services/web/compose.yaml",
        "services/web/conf/site.conf",
        "services/web/healthcheck.sh",
        "services/web/site.conf",
    ]
    assert found["services/web/healthcheck.sh"]["mode"] == 0o755
    assert found["services/web/compose.yaml"]["mode"] == 0o644
    assert found["services/web/site.conf"] == {
        "path": "services/web/site.conf",
        "type": "symlink",
        "target": "conf/site.conf",
    }


def test_manifest_bytes_are_stable(tmp_path: Path) -> None:
    """The same tree gives the same manifest bytes, so the same revision name."""
    repo = make_repo(tmp_path)
    assert build_manifest(repo, ["web"]).data == build_manifest(repo, ["web"]).data


@pytest.mark.parametrize(
    "target", ["../other/compose.yaml", "/etc/passwd", "conf/../../x", "conf/link/.."]
)
def test_a_link_out_of_the_service_folder_is_refused(tmp_path: Path, target: str) -> None:
    """A symlink that leaves services/<svc>/ is an error naming it, not a file sent."""
    repo = make_repo(tmp_path)
    os.symlink(target, repo / "services" / "web" / "escape")
    with pytest.raises(PushError, match="escape"):
        build_manifest(repo, ["web"])


def test_a_service_folder_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    """services/<svc> linked elsewhere would send what the link points at: refused."""
    repo = make_repo(tmp_path)
    os.symlink(tmp_path / "repo" / "config", repo / "services" / "linked")
    with pytest.raises(PushError, match="symlink"):
        build_manifest(repo, ["linked"])


def test_a_missing_service_folder_is_an_error(tmp_path: Path) -> None:
    """A host service without services/<svc>/ in the repo fails with a hint."""
    with pytest.raises(PushError, match="services/nope/"):
        build_manifest(make_repo(tmp_path), ["nope"])


def test_an_answer_after_a_banner_is_found() -> None:
    """A login banner before the marked line does not confuse the parser."""
    out = b'Welcome to the NAS!\nFLEET-SOURCE {"rev": "ab"}\n'
    assert parse_answer(CommandResult(0, out, b""), "x") == {"rev": "ab"}
    with pytest.raises(PushError):
        parse_answer(CommandResult(0, b"FLEET-SOURCEx\n", b""), "x")


class LocalRunner:
    """Runs the receiver in-process, as the runner's commands would on the host."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = str(root / "repo")
        self.cut_at: int | None = None

    async def __call__(self, args: Sequence[str], stdin: bytes | None) -> CommandResult:
        data = stdin or b""
        try:
            if args[0] == "source-need":
                answer = source.need(str(self.root), self.repo, data)
            else:
                if self.cut_at is not None:
                    data = data[: self.cut_at]
                answer = source.receive(str(self.root), self.repo, io.BytesIO(data))
        except source.SourceError as exc:
            return CommandResult(1, b"", str(exc).encode())
        return CommandResult(0, b"banner\n" + source.answer_line(answer).encode(), b"")


def push(repo: Path, host: LocalRunner) -> dict[str, object]:
    return asyncio.run(push_source(repo, ["web"], [], host)).meta()


def test_unchanged_tree_sends_no_bytes_and_a_change_only_its_file(tmp_path: Path) -> None:
    """First push sends every content, the second none, then only the changed file."""
    repo, host = make_repo(tmp_path), LocalRunner(tmp_path / "host")
    first = push(repo, host)
    assert first["files_sent"] == 3 and first["switched"]
    link = host.root / "repo"
    assert (link / "services/web/compose.yaml").read_text() == "services: {}\n"
    assert os.access(link / "services/web/healthcheck.sh", os.X_OK)
    assert os.readlink(link / "services/web/site.conf") == "conf/site.conf"
    assert not (link / "services/other").exists() and not (link / "config").exists()
    second = push(repo, host)
    assert second["bytes_sent"] == 0 and not second["switched"]
    (repo / "services/web/compose.yaml").write_text("services: {a: {}}\n")
    third = push(repo, host)
    assert (third["files_sent"], third["bytes_sent"]) == (1, len("services: {a: {}}\n"))
    assert os.readlink(link) == f".fleet/revisions/{third['rev']}"


def test_a_cut_stream_keeps_the_old_revision_and_the_objects_that_arrived(
    tmp_path: Path,
) -> None:
    """A stream cut inside the big file: R/repo unchanged, the small file's object kept,
    and the next push sends only the big one."""
    repo, host = make_repo(tmp_path), LocalRunner(tmp_path / "host")
    old = push(repo, host)["rev"]
    (repo / "services/web/compose.yaml").write_text("services: {b: {}}\n")
    (repo / "services/web/big.bin").write_bytes(b"z" * 100_000)
    host.cut_at = 50_000
    with pytest.raises(PushError, match="ended inside object"):
        push(repo, host)
    assert os.readlink(host.root / "repo") == f".fleet/revisions/{old}"
    host.cut_at = None
    again = push(repo, host)
    assert (again["files_sent"], again["bytes_sent"]) == (1, 100_000)
    assert (host.root / "repo/services/web/big.bin").stat().st_size == 100_000


def test_a_real_folder_at_repo_is_moved_aside(tmp_path: Path) -> None:
    """A host switched from git keeps its old checkout, renamed, never deleted."""
    repo, host = make_repo(tmp_path), LocalRunner(tmp_path / "host")
    (host.root / "repo" / ".git").mkdir(parents=True)
    outcome = asyncio.run(push_source(repo, ["web"], [], host))
    assert outcome.moved_aside and Path(outcome.moved_aside, ".git").is_dir()
    assert (host.root / "repo").is_symlink()


def test_old_revisions_are_pruned_but_released_ones_kept(tmp_path: Path) -> None:
    """Past ten revisions the oldest go, except one a release names."""
    repo, host = make_repo(tmp_path), LocalRunner(tmp_path / "host")
    revs = []
    for n in range(13):
        (repo / "services/web/compose.yaml").write_text(f"services: {{v{n}: {{}}}}\n")
        revs.append(str(push(repo, host)["rev"]))
        if n == 0:
            releases = host.root / "state/deploy/releases"
            releases.mkdir(parents=True)
            (releases / "r1.json").write_text(json.dumps({"source": {"revision": revs[0]}}))
        folder = host.root / ".fleet/revisions" / revs[-1]
        os.utime(folder, (n, n))  # mtimes a second apart: the order is the push order
    left = set(os.listdir(host.root / ".fleet/revisions"))
    assert left == {revs[0], *revs[3:]}


def test_a_push_host_whose_service_is_not_in_the_repo_fails_before_any_run(
    tmp_path: Path,
) -> None:
    """The deploy's hook: a push that cannot be made fails the host with its cause, and no
    run is started on it."""
    from dataclasses import replace

    from controller import fanout
    from controller.options import EngineOptions
    from controller.report.model import HostStatus
    from controller.report.problems import Problem
    from tests.unit.controller.fakes import RUNNER, FakeFleet, FakeHost, make_host

    fake = FakeHost(host=replace(make_host("p", ("web", "db")), source="push"))
    options = EngineOptions(push_repo=str(make_repo(tmp_path)))
    report = asyncio.run(
        fanout.deploy([fake.host], options, runner=RUNNER, connectors=FakeFleet([fake]))
    )
    result = report.hosts["p"]
    assert result.status is HostStatus.FAILED and result.problem is Problem.PUSH_FAILED
    assert result.error is not None and "services/db/" in result.error
    assert fake.commands == [], "nothing ran on the host"
