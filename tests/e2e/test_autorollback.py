"""on_failure: rollback end to end: a git checkout on a real sshd host, real containers. A
deploy whose service never turns healthy goes back to the last good release by itself,
with the link up or cut; a first deploy has nothing to go back to."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from tests.e2e.support import Fleet, finish, read_state, run_finished, wait_for
from tests.e2e.test_rollback import GitSource
from tests.lab import Lab, busybox_compose, project_container_ids

MakeLab = Callable[[Iterable[str]], Lab]

pytestmark = pytest.mark.e2e

VERIFY_S = "3"  # v2 is given up on quickly: the tests wait for a failure


def _healthcheck_probes(project: str) -> list[str]:
    """The healthcheck command each container of the project runs: v1's is /bin/true."""
    probes = []
    for cid in project_container_ids(project):
        out = subprocess.run(
            ["docker", "inspect", "--format", "{{json .Config.Healthcheck.Test}}", cid],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        probes.append(json.loads(out)[-1])
    return probes


def _setup(
    make_lab: MakeLab, unique: str, tmp_path: Path, **nas: object
) -> tuple[Lab, str, GitSource, Fleet]:
    lab = make_lab(["nas"])
    svc = f"h27-app-{unique}"
    lab.track_project(svc)
    source = GitSource(tmp_path, lab.hosts["nas"].root_dir / "repo", svc)
    inventory = lab.write_inventory(tmp_path / "hosts.yml", services={"nas": [svc]}, nas=nas)
    return lab, svc, source, Fleet(tmp_path / "state", inventory)


def _deploy_v1(fleet: Fleet, source: GitSource) -> tuple[str, str]:
    """v1 (healthy) deployed; returns its commit and run id."""
    commit = source.commit("v1", busybox_compose())
    first = fleet("deploy", "--hosts", "nas", "--json")
    assert first.code == 0, first.stderr
    return commit, str(first.report["run_id"])


def _assert_rolled_back(nas: dict[str, object], svc: str, v1_run: str) -> None:
    assert nas["status"] == "rolled_back", nas
    assert (nas["failed_stage"], nas["failed_service"], nas["rolled_back_to"]) == (
        "verify", svc, v1_run,
    )  # fmt: skip
    error = str(nas["error"])
    assert error.startswith(f"verify failed for {svc} (") and svc in error
    assert error.endswith(f"; rolled back to release {v1_run}")


def test_an_unhealthy_v2_rolls_back_to_v1_and_the_host_says_rolled_back(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """`--on-failure rollback`: exit 1, rolled_back, v1's configuration runs again and is
    the current release; resume continues nothing; status says rolled_back."""
    _, svc, source, fleet = _setup(make_lab, unique, tmp_path)
    v1_commit, v1_run = _deploy_v1(fleet, source)
    source.commit("v2", busybox_compose(healthy=False))

    second = fleet(
        "deploy", "--hosts", "nas", "--verify-timeout", VERIFY_S, "--on-failure", "rollback",
        "--json",
    )  # fmt: skip
    assert second.code == 1, second.stderr
    _assert_rolled_back(second.host("nas"), svc, v1_run)
    assert second.host("nas")["diagnostics"]
    assert _healthcheck_probes(svc) == ["/bin/true"]

    releases = fleet("releases", "nas", "--json").report["releases"]
    current = releases[0]
    assert current["current"] and current["kind"] == "rollback"
    assert current["rollback_of"] == v1_run and current["revision"] == f"git:{v1_commit}"
    assert [r["run_id"] for r in releases[1:]] == [v1_run]

    containers = project_container_ids(svc)
    resumed = fleet("resume", "nas", "--json")
    assert resumed.code == 1, resumed.stderr
    assert resumed.host("nas")["status"] == "rolled_back"
    assert "nothing to resume" in resumed.host("nas")["error"]
    assert project_container_ids(svc) == containers

    status = fleet("status", "--hosts", "nas", "--json")
    assert status.code == 1
    _assert_rolled_back(status.host("nas"), svc, v1_run)

    text = fleet("report", second.report["run_id"])
    assert f"1. verify failed for {svc}" in text.stdout
    assert f"2. rolled back to release {v1_run}" in text.stdout


def test_with_the_link_cut_the_host_rolls_back_by_itself_and_the_controller_sees_it(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """`on_failure: rollback` in the inventory; the link goes down once v2's verify has
    begun and comes back after the host rolled back alone: the controller, still
    waiting for it, reports rolled_back."""
    lab, svc, source, fleet = _setup(make_lab, unique, tmp_path, on_failure="rollback")
    _, v1_run = _deploy_v1(fleet, source)
    source.commit("v2", busybox_compose(healthy=False))

    proc = fleet.start(
        "deploy", "--hosts", "nas", "--verify-timeout", VERIFY_S, "--reconnect-timeout", "90",
        "--json",
    )  # fmt: skip
    wait_for(lambda: read_state(lab, "nas", "current_stage") == "verify", 60, "v2's verify")
    with lab.link_down("nas"):
        wait_for(lambda: run_finished(lab, "nas"), 60, "the host to roll back by itself")
        assert _healthcheck_probes(svc) == ["/bin/true"]
    result = finish(proc)
    assert result.code == 1, result.stderr
    _assert_rolled_back(result.host("nas"), svc, v1_run)


def test_a_first_deploy_that_fails_has_nothing_to_roll_back_to(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    _, svc, source, fleet = _setup(make_lab, unique, tmp_path)
    source.commit("v1", busybox_compose(healthy=False))
    first = fleet(
        "deploy", "--hosts", "nas", "--verify-timeout", VERIFY_S, "--on-failure", "rollback",
        "--json",
    )  # fmt: skip
    assert first.code == 1, first.stderr
    nas = first.host("nas")
    assert nas["status"] == "failed" and nas["failed_stage"] == "verify"
    assert "nothing to roll back to" in nas["error"]
    assert "rolled_back_to" not in nas
    assert _healthcheck_probes(svc) == ["/bin/false"]
