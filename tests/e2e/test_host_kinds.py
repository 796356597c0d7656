"""Hosts as their owners set them up (issue #25), all in one fleet: fish, tcsh and zsh
login shells (each printing a banner), a Synology-style PATH without docker, a user who
may run docker only through sudo. Each completes and reads back `completed`, and plan and
check pass for it; a sudo that wants a password fails at once with its own cause."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LAB_SUBNET
from tests.e2e.support import Fleet, host_logs
from tests.lab import Lab
from tests.lab.hosts import LabError
from tests.lab.kinds import LabHostOptions

pytestmark = pytest.mark.e2e

_PID = os.getpid() % 100_000
KINDS = {
    "fish": LabHostOptions(user=f"k25f{_PID}", shell="/usr/bin/fish", banner=True),
    "tcsh": LabHostOptions(user=f"k25t{_PID}", shell="/usr/bin/tcsh", banner=True),
    "zsh": LabHostOptions(user=f"k25z{_PID}", shell="/usr/bin/zsh", banner=True),
    "synology": LabHostOptions(user=f"k25s{_PID}", synology=True, banner=True),
    "sudo": LabHostOptions(user=f"k25u{_PID}", user_in_docker_group=False, sudo="nopasswd"),
    "sudopw": LabHostOptions(user=f"k25p{_PID}", user_in_docker_group=False, sudo="password"),
}
GOOD = ("fish", "tcsh", "zsh", "synology", "sudo")
BECOME = {"sudo": {"become": "sudo"}, "sudopw": {"become": "sudo"}}
BOUND_S = 90.0


@pytest.fixture
def owners_lab(tmp_path: Path, busybox_image: str) -> Iterator[Lab]:
    """One host of each kind, torn down (users and sudoers files too) after the test."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    missing = [o.shell for o in KINDS.values() if not Path(o.shell).exists()]
    if missing or not Path("/usr/bin/sudo").exists():
        pytest.fail(f"the test world lacks {missing or 'sudo'}: run `make world`")
    lab = Lab(tmp_path / "lab", list(KINDS), subnet=LAB_SUBNET, kinds=KINDS)
    try:
        lab.start()
    except (LabError, OSError) as exc:
        lab.stop()
        pytest.skip(f"cannot start sshd hosts: {exc}")
    try:
        yield lab
    finally:
        lab.stop()


def test_hosts_as_their_owners_set_them_up_deploy_plan_and_check(
    owners_lab: Lab, unique: str, tmp_path: Path
) -> None:
    for name in KINDS:
        owners_lab.add_service(name, f"k25-{name}-{unique}")
    inventory = owners_lab.write_inventory(tmp_path / "hosts.yml", **BECOME)
    fleet = Fleet(tmp_path / "state", inventory)

    res = fleet("deploy", "--hosts", "all", "--json", "--reconnect-timeout", "30", timeout=150)
    assert res.elapsed < BOUND_S, res.stderr[-2000:]
    errors = {name: (h["status"], h["error"]) for name, h in res.report["hosts"].items()}
    assert res.code == 1, errors
    for name in GOOD:
        assert res.host(name)["status"] == "completed", errors
    bad = res.host("sudopw")
    assert bad["status"] == "failed", errors
    for words in ("sudo: a password is required", f"k25p{_PID} ALL=(root) NOPASSWD: /"):
        assert words in (bad["error"] or ""), errors

    # Where docker was found and how it ran is said; files stay the SSH user's.
    assert "docker is /usr/local/bin/docker (not on PATH)" in log_of(owners_lab, "synology")
    assert "it runs through sudo -n" in log_of(owners_lab, "sudo")
    sudo_user = pwd.getpwnam(KINDS["sudo"].user).pw_uid
    fleet_dir = owners_lab.hosts["sudo"].root_dir / ".fleet"
    assert {p.stat().st_uid for p in [fleet_dir, *fleet_dir.rglob("*")]} == {sudo_user}

    good = ",".join(GOOD)
    status = fleet("status", "--hosts", good, "--json", timeout=60)
    for name in GOOD:
        assert status.host(name)["status"] == "completed", (name, status.host(name))
    plan = fleet("plan", "--hosts", good, "--json", timeout=120)
    assert plan.code == 0, plan.stdout[-2000:] + plan.stderr[-2000:]
    for name in GOOD:
        services = plan.report["hosts"][name]["services"]
        assert {s["action"] for s in services.values()} == {"unchanged"}, (name, services)

    check = fleet("check", "--json", timeout=120)
    hosts = check.report["hosts"]
    for name in GOOD:
        assert hosts[name]["status"] == "ok", (name, hosts[name])
    docker = hosts["sudopw"]["checks"]["docker"]
    assert not docker["ok"] and docker["detail"] == "sudo needs a password", docker
    assert f"k25p{_PID} ALL=(root) NOPASSWD: /" in docker["fix"], docker


def log_of(lab: Lab, host: str) -> str:
    return "".join(p.read_text() for p in host_logs(lab, host))
