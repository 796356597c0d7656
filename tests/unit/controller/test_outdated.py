"""`fleet outdated` on the controller: the fan-out over fake hosts (an answer, a host that
cannot be reached, a runner that fails), the --json shape, the table, the notification."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from controller import fanout
from controller.cli.app import app
from controller.errors import ExitStatus
from controller.notify.message import build_message, needs_sending
from controller.options import EngineOptions
from controller.outdated import HostOutdated, all_current, outdated_json, render_outdated
from controller.report.problems import Problem
from controller.transport.connector import CommandResult, ConnectError, OnData
from tests.unit.controller.fakes import RUNNER, FakeFleet, FakeHost, FakeTime, make_host

OLD, NEW = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def item(service: str, state: str, **more: Any) -> dict[str, Any]:
    found = {"service": service, "image": f"reg.lan/{service}:1.0", "state": state}
    found.update(local_digest=OLD, registry_digest=NEW if state == "update" else OLD)
    found.update(newer=[], reason=None)
    found.update(more)
    return found


@dataclass
class OutdatedHost(FakeHost):
    """A fake host whose runner answers `outdated` with these images."""

    images: tuple[dict[str, Any], ...] = ()

    def runner(
        self, sub: str, args: list[str], stdin: bytes | None, on_stdout: OnData | None
    ) -> CommandResult:
        if sub != "outdated":
            return super().runner(sub, args, stdin, on_stdout)
        self.plans.append(json.loads(stdin or b"{}"))
        return CommandResult(0, json.dumps({"images": list(self.images)}).encode(), b"")


def run(fakes: list[FakeHost]) -> dict[str, HostOutdated]:
    hosts = [f.host for f in fakes]
    return asyncio.run(
        fanout.outdated(
            hosts,
            EngineOptions(),
            runner=RUNNER,
            connectors=FakeFleet(fakes),
            timing=FakeTime().timing(),
        )
    )


def test_every_host_answers_or_is_reported_unreachable() -> None:
    current = OutdatedHost(make_host("a"), images=(item("web", "current"),))
    behind = OutdatedHost(make_host("b"), images=(item("web", "update"),))
    err = ConnectError("authentication failed", problem=Problem.AUTH_FAILED, transient=False)
    gone = OutdatedHost(make_host("c"), connect_errors=[err])
    found = run([current, behind, gone])
    assert list(found) == ["a", "b", "c"]
    assert found["a"].current and not found["b"].current
    assert found["c"].status == "unreachable" and "authentication" in str(found["c"].error)
    assert not all_current(found) and all_current({"a": found["a"]})
    assert current.plans[0]["host"] == "a" and current.plans[0]["services"] == ["web", "db"]


def test_a_runner_that_fails_is_the_hosts_error() -> None:
    broken = OutdatedHost(make_host("a"), exit_override=3)
    found = run([broken])["a"]
    assert found.status == "unreachable" and "python3: too old" in str(found.error)


def test_the_json_shape_is_the_designs() -> None:
    found = {"a": HostOutdated("a", "checked", [item("web", "current")])}
    assert outdated_json(found) == {
        "hosts": {"a": {"status": "checked", "images": [item("web", "current")], "error": None}}
    }


def test_the_table_shows_states_newer_tags_and_reasons() -> None:
    found = {
        "a": HostOutdated("a", "checked", [item("web", "current", newer=["1.1", "2.0"])]),
        "b": HostOutdated("b", "checked", [item("db", "unknown", reason="no [answer]")]),
        "c": HostOutdated("c", error="connect timed out"),
    }
    console = Console(record=True, width=200, color_system=None)
    render_outdated(console, found)
    text = console.export_text()
    assert "1.1, 2.0" in text and "no [answer]" in text and "aaaaaaaaaaaa" in text
    assert "c: unreachable: connect timed out" in text
    assert "not current: 1 images" in text


def test_the_notification_names_what_is_not_current() -> None:
    found = {
        "a": HostOutdated("a", "checked", [item("web", "current")]),
        "b": HostOutdated("b", "checked", [item("db", "update")]),
    }
    report = outdated_json(found)
    assert needs_sending(report, "outdated")
    message = build_message(report, "outdated", mask=str)
    assert message.title == "fleet outdated: 1 of 2 current"
    assert "db reg.lan/db:1.0 (update)" in message.body
    assert not needs_sending(outdated_json({"a": found["a"]}), "outdated")


def test_usage_errors_exit_2_before_any_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLEET_INVENTORY", raising=False)
    inv = tmp_path / "hosts.yml"
    inv.write_text("hosts:\n  nas:\n    address: 127.0.9.8\n    services: [x]\n")
    for args in (["--hosts", "nass"], ["--bogus"], ["--hosts", "nass", "--json"]):
        result = CliRunner().invoke(app, ["outdated", "-i", str(inv), *args])
        assert result.exit_code == ExitStatus.USAGE, (args, result.stdout, result.stderr)
    assert json.loads(result.stdout)["error"]
