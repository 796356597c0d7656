"""An unchanged service costs one inspection; a changed or stopped one gets `up` again."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from tests.e2e.support import Fleet, host_logs, struct_events
from tests.lab import Lab, busybox_compose, project_container_ids

MakeLab = Callable[[Iterable[str]], Lab]
SUBCOMMANDS = {"config", "up", "pull", "build", "ps", "down", "logs"}

pytestmark = pytest.mark.e2e


def deploy_messages(lab: Lab, host: str) -> dict[str, str]:
    """service -> the message of its service_completed event in the host's newest run log."""
    return {
        e["service"]: e.get("message", "")
        for e in struct_events(host_logs(lab, host)[-1].read_text())
        if e["event"] == "service_completed"
    }


def test_only_what_changed_or_stopped_is_brought_up_again(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    lab = make_lab(["nas"])
    same, changed, stopped = (f"{s}-{unique}" for s in ("same", "changed", "stopped"))
    for svc in (same, changed, stopped):
        lab.add_service("nas", svc)
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))
    first = fleet("deploy", "--hosts", "all", "--json")
    assert first.code == 0, first.stderr
    before = {svc: project_container_ids(svc) for svc in (same, changed, stopped)}

    again = fleet("deploy", "--hosts", "all", "--json")
    assert again.code == 0, again.stderr
    assert all(m.startswith("unchanged") for m in deploy_messages(lab, "nas").values())
    assert {svc: project_container_ids(svc) for svc in before} == before

    lab.add_service("nas", changed, busybox_compose(command=("httpd", "-f", "-p", "8081")))
    subprocess.run(["docker", "stop", before[stopped][0]], check=True, capture_output=True)
    third = fleet("deploy", "--hosts", "all", "--json")
    assert third.code == 0, third.stderr
    messages = deploy_messages(lab, "nas")
    assert messages[same].startswith("unchanged")
    assert not messages[changed].startswith("unchanged")
    assert not messages[stopped].startswith("unchanged")
    assert project_container_ids(same) == before[same]
    assert project_container_ids(changed) != before[changed]  # recreated with the new command
    assert project_container_ids(stopped) == before[stopped]  # started again, running


def test_compose_starts_once_per_service_when_nothing_changed(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """One `config --format json` per service serves prepare, validate and deploy: a
    fresh deploy starts compose twice per service (config, up), an unchanged one once."""
    lab = make_lab(["nas"])
    services = [f"{s}-{unique}" for s in ("one", "two")]
    for svc in services:
        lab.add_service("nas", svc)
    calls = tmp_path / "compose-calls"
    wrapper = tmp_path / "bin" / "docker-compose"  # named so: the engine socket is asked
    wrapper.parent.mkdir()
    wrapper.write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\n'
        'exec /usr/local/lib/docker/cli-plugins/docker-compose "$@"\n'
    )
    wrapper.chmod(0o755)
    inventory = lab.write_inventory(tmp_path / "hosts.yml", nas={"compose_command": [str(wrapper)]})
    fleet = Fleet(tmp_path / "state", inventory)

    def subcommands() -> list[str]:
        """compose's subcommand of each call since the last look (`-p S -f F ... config`)."""
        lines = calls.read_text().splitlines() if calls.exists() else []
        calls.unlink(missing_ok=True)
        return sorted(next(w for w in line.split() if w in SUBCOMMANDS) for line in lines)

    assert fleet("deploy", "--hosts", "all", "--json").code == 0
    assert subcommands() == ["config", "config", "up", "up"]
    assert fleet("deploy", "--hosts", "all", "--json").code == 0
    assert subcommands() == ["config", "config"]
    assert all(m.startswith("unchanged") for m in deploy_messages(lab, "nas").values())
