"""`fleet plan` on the controller: one connection, the runner's preview, the pinned JSON."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from controller import fanout
from controller.cli.app import app
from controller.errors import ExitStatus
from controller.options import EngineOptions
from controller.plan.report import anything_changes, plan_json, would_change
from controller.report.model import FleetReport
from controller.report.problems import Problem
from controller.transport.connector import CommandResult, ConnectError, OnData
from tests.unit.controller.fakes import RUNNER, FakeFleet, FakeHost, make_host


def service(action: str = "unchanged", images: list[str] | None = None) -> dict[str, Any]:
    return {"action": action, "images": images or [], "reason": None, "orphans": []}


def host_preview(**services: dict[str, Any]) -> dict[str, Any]:
    return {"git": {"state": "up_to_date", "commits": []}, "services": services, "running": None}


@dataclass
class PlanHost(FakeHost):
    """A fake host whose runner answers `preview` with a canned object."""

    answer: dict[str, Any] = field(default_factory=dict)

    def runner(
        self, sub: str, args: list[str], stdin: bytes | None, on_stdout: OnData | None
    ) -> CommandResult:
        if sub != "preview":
            return super().runner(sub, args, stdin, on_stdout)
        self.plans.append(json.loads(stdin or b"{}"))
        return CommandResult(0, json.dumps(self.answer).encode(), b"")


def plan(fakes: list[FakeHost], monkeypatch: pytest.MonkeyPatch) -> FleetReport:
    monkeypatch.setattr(fanout, "load_runner", lambda: RUNNER)
    hosts = [f.host for f in fakes]
    return asyncio.run(fanout.plan(hosts, EngineOptions(), connectors=FakeFleet(fakes)))


def test_plan_json_is_the_pinned_shape_and_unchanged_hosts_exit_0(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two hosts with nothing to change: `planned`, the pinned keys, one connection each,
    the plan inside the command, nothing to change."""
    fakes = [PlanHost(make_host(n), answer=host_preview(web=service())) for n in ("a", "b")]
    report = plan(list(fakes), monkeypatch)
    out = plan_json(report)
    assert set(out) == {"hosts"}
    for name in ("a", "b"):
        entry = out["hosts"][name]
        assert {"status", "git", "services", "error"} <= set(entry)
        assert entry["status"] == "planned" and entry["error"] is None
        assert entry["services"]["web"]["action"] == "unchanged"
    assert all(f.connects == 1 and f.plans[0]["services"] == ["web", "db"] for f in fakes)
    assert all(f.runners for f in fakes)  # uploaded where missing: fleet's own cache
    assert not anything_changes(report)


def test_an_unreachable_host_is_unreachable_with_deploys_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refused connect: `unreachable` with the cause, and the plan exits 1."""
    refused = ConnectError("connection refused", problem=Problem.CONN_REFUSED, transient=False)
    down = PlanHost(make_host("down"), connect_errors=[refused])
    report = plan([down], monkeypatch)
    entry = plan_json(report)["hosts"]["down"]
    assert entry["status"] == "unreachable" and "refused" in entry["error"]
    assert anything_changes(report)


def test_a_host_without_python_cannot_be_planned(monkeypatch: pytest.MonkeyPatch) -> None:
    """No python3 on the host: not planned, the reason given as deploy gives it."""
    bare = PlanHost(make_host("bare"), runners={"x"}, exit_override=127)
    entry = plan_json(plan([bare], monkeypatch))["hosts"]["bare"]
    assert entry["status"] == "unreachable" and "python3 not found" in entry["error"]


@pytest.mark.parametrize(
    "preview",
    [
        host_preview(web=service("recreate")),
        host_preview(web=service("create")),
        host_preview(web=service("invalid")),
        host_preview(web=service(images=["app:1"])),
        host_preview(web=dict(service(), orphans=["web-old-1"])),
        host_preview(web=dict(service(), stopped=["web-app-1"])),
        dict(host_preview(web=service()), git={"state": "behind", "commits": [{"sha": "1"}]}),
    ],
    ids=["recreate", "create", "invalid", "pull", "orphans", "stopped", "commits"],
)
def test_what_counts_as_a_change(preview: dict[str, Any]) -> None:
    """Any action but unchanged, an image to pull, an orphan, a container to start, or a
    commit to pull."""
    assert would_change(preview)


def test_an_unreachable_git_remote_alone_changes_nothing() -> None:
    """The deploy would go on from the local checkout: nothing would change."""
    preview = dict(host_preview(web=service()), git={"state": "unreachable", "message": "x"})
    assert not would_change(preview)


def test_plan_with_an_unknown_host_exits_usage(tmp_path: Path) -> None:
    """`fleet plan --hosts nass`: exit 2 before anything is contacted."""
    inv = tmp_path / "hosts.yml"
    inv.write_text("hosts:\n  nas:\n    address: 127.0.9.8\n    services: [x]\n")
    result = CliRunner().invoke(app, ["plan", "-i", str(inv), "--hosts", "nass"])
    assert result.exit_code == ExitStatus.USAGE and "nass" in result.stderr


def test_plan_of_a_local_host_through_the_real_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `connection: local` host, compose /bin/true (prints nothing): every service
    `create`, exit 1; the host's state folder is not even created."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    root = tmp_path / "root"
    for svc in ("web", "db"):
        (root / "repo" / "services" / svc).mkdir(parents=True)
        (root / "repo" / "services" / svc / "compose.yaml").write_text("services: {}\n")
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        "hosts:\n  me:\n    connection: local\n"
        f"    root: {root}\n    compose_command: /bin/true\n    services: [web, db]\n"
    )
    result = CliRunner().invoke(app, ["plan", "-i", str(inv), "--json"])
    assert result.exit_code == ExitStatus.NOT_COMPLETED, result.stderr
    me = json.loads(result.stdout)["hosts"]["me"]
    assert me["status"] == "planned"
    assert {s: v["action"] for s, v in me["services"].items()} == {"web": "create", "db": "create"}
    assert not (root / "state").exists() and not (root / "logs").exists()
    table = CliRunner().invoke(app, ["plan", "-i", str(inv)])
    assert table.exit_code == ExitStatus.NOT_COMPLETED and "create" in table.stdout


def digest(state: str | None, asked: bool = True, **more: Any) -> dict[str, Any]:
    entry = {"policy": "always", "asked": asked, "why": "pull policy always: a deploy pulls it"}
    entry.update(state=state, local_digest=None, registry_digest=None, reason=None)
    entry.update(more)
    return entry


def test_plan_pull_reaches_the_job_and_the_table_says_what_a_pull_would_bring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fleet plan --pull always`: the host's job says always; per image the table says a
    new digest, none, unknown with its reason, or why the registry was not asked."""
    new = "sha256:" + "b" * 64
    web = service("recreate", ["app:latest"])
    web["image_digests"] = {
        "app:latest": digest("update", registry_digest=new),
        "app:1.0": digest("current"),
        "db:1": digest("unknown", reason="no answer within 5s"),
        "cache:1": digest(None, False, why="pull policy never: a deploy does not pull it"),
    }
    made: list[PlanHost] = []
    real = fanout.plan

    def planned(hosts: list[Any], options: EngineOptions) -> Any:
        made.extend(PlanHost(h, answer=host_preview(web=web)) for h in hosts)
        return real(hosts, options, connectors=FakeFleet(list(made)))

    monkeypatch.setattr(fanout, "load_runner", lambda: RUNNER)
    monkeypatch.setattr(fanout, "plan", planned)
    inv = tmp_path / "hosts.yml"
    inv.write_text("hosts:\n  nas:\n    address: 127.0.9.8\n    services: [web]\n")
    result = CliRunner().invoke(
        app, ["plan", "-i", str(inv), "--pull", "always"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == ExitStatus.NOT_COMPLETED, result.stderr
    assert made[0].plans[0]["pull"] == "always"
    text = " ".join(result.stdout.split())
    for said in ("a new digest (sha256:bbbbbbbbbbbb)", "no new digest", "no answer within 5s"):
        assert said in text, result.stdout
    assert "not asked: pull policy never" in text
