"""An unchanged service costs one inspection; a changed or stopped one gets `up` again."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from tests.e2e.support import Fleet, struct_events
from tests.lab import Lab, busybox_compose, project_container_ids

MakeLab = Callable[[Iterable[str]], Lab]

pytestmark = pytest.mark.e2e


def deploy_messages(lab: Lab, host: str) -> dict[str, str]:
    """service -> the message of its service_completed event in the host's newest run log."""
    logs = sorted((lab.hosts[host].root_dir / "logs" / "deploy").glob("deploy_*.log"))
    return {
        e["service"]: e.get("message", "")
        for e in struct_events(logs[-1].read_text())
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
