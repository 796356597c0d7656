"""Rolling deploys end to end: real sshd hosts, real Docker, the real `fleet` CLI."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.design import check_shape
from tests.e2e.support import Fleet, struct_events
from tests.lab import Lab, project_container_ids

MakeLab = Callable[[Iterable[str]], Lab]

pytestmark = pytest.mark.e2e

# Healthy unless the host has the fault file (/opt/homelab is the lab host's own root).
HEALTHCHECK = "#!/bin/sh\n[ ! -e /opt/homelab/h15-fault ] || { echo 'h15 fault set'; exit 1; }\n"
ROLLOUT = ["--canary", "1", "--batch", "2", "--max-fail", "1"]


def pinned(report: dict[str, Any]) -> dict[str, Any]:
    """The report without the rollout's own keys: what DESIGN.md pins, exactly."""
    hosts = {
        name: {k: v for k, v in entry.items() if k != "wave"}
        for name, entry in report["hosts"].items()
    }
    return {**{k: v for k, v in report.items() if k != "rollout"}, "hosts": hosts}


def test_rollout_stops_when_its_budget_is_spent_and_the_printed_resume_completes_it(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """6 hosts, --canary 1 --batch 2 --max-fail 1, wave 2 fails: waves 3 and 4 never start
    (no state, no runner, no containers), exit 1; fixed, the printed resume completes all."""
    names = [f"r{i}" for i in range(1, 7)]
    lab = make_lab(names)
    svc = {name: f"h15-{unique}-{name}" for name in names}
    for name in names:
        lab.add_service(name, svc[name], healthcheck=HEALTHCHECK)
    for name in ("r2", "r3"):
        (lab.hosts[name].root_dir / "h15-fault").write_text("")
    inventory = lab.write_inventory(tmp_path / "hosts.yml")
    fleet = Fleet(tmp_path / "state", inventory)

    first = fleet("deploy", "--hosts", "all", *ROLLOUT, "--verify-timeout", "2")
    assert first.code == 1, first.stdout + first.stderr
    # Progress lines start with their time; the summary's lines do not.
    lines = [re.sub(r"^\d\d:\d\d:\d\d ", "", line) for line in first.stdout.splitlines()]
    assert "wave 1 of 4: r1" in lines and "wave 2 of 4: r2 r3" in lines
    assert not any(line.startswith(("wave 3", "wave 4")) for line in lines)

    report = fleet("report", "--json").report
    check_shape(pinned(report))
    hosts = report["hosts"]
    assert [hosts[n]["status"] for n in names] == ["completed", "failed", "failed"] + [
        "not_started"
    ] * 3
    assert [hosts[n]["wave"] for n in names] == [1, 2, 2, 3, 3, 4]
    assert hosts["r2"]["failed_stage"] == "verify" and "h15 fault set" in hosts["r2"]["error"]
    rollout = report["rollout"]
    assert {k: rollout[k] for k in ("batch", "canary", "max_fail", "waves")} == {
        "batch": "2",
        "canary": 1,
        "max_fail": "1",
        "waves": 4,
    }
    assert "failure budget spent in wave 2 of 4" in rollout["stopped"]
    for name in ("r4", "r5", "r6"):
        assert hosts[name]["error"].startswith("not started: failure budget spent")
        root = lab.hosts[name].root_dir
        assert not (root / "state").exists() and not (root / ".fleet").exists()
        assert project_container_ids(svc[name]) == []
    assert project_container_ids(svc["r1"])

    # The one command the summary prints, run exactly as printed.
    prefix = "  continue the rollout: "
    printed = [line[len(prefix) :] for line in lines if line.startswith(prefix)]
    assert printed == [f"fleet resume -i {inventory} r2 r3 r4 r5 r6 {' '.join(ROLLOUT)}"]
    for name in ("r2", "r3"):
        (lab.hosts[name].root_dir / "h15-fault").unlink()
    argv = shlex.split(printed[0])
    resumed = subprocess.run(
        [sys.executable, "-m", "controller", *argv[1:], "--json"],
        capture_output=True,
        text=True,
        timeout=240,
        env=fleet.env,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    again = fleet("report", "--json").report
    check_shape(pinned(again))
    hosts = again["hosts"]
    assert list(hosts) == ["r2", "r3", "r4", "r5", "r6"]
    assert all(hosts[n]["status"] == "completed" for n in hosts)
    assert [hosts[n]["wave"] for n in hosts] == [1, 2, 2, 3, 3]
    assert again["rollout"]["stopped"] is None
    # The failed hosts resumed from their markers, the others ran their first deploy.
    runs = fleet.runs_dir() / again["run_id"] / "hosts"
    for name, kind in (("r2", "resume"), ("r3", "resume"), ("r4", "deploy"), ("r6", "deploy")):
        events = struct_events((runs / f"{name}.log").read_text())
        assert events[0]["event"] == "run_started" and events[0]["kind"] == kind, name
        skipped = {e["stage"] for e in events if e["event"] == "stage_skipped"}
        assert ("deploy" in skipped) == (kind == "resume"), name
    assert hosts["r4"]["services"] == {svc["r4"]: "completed"}
    for name in names:
        assert project_container_ids(svc[name]), name
