"""Soak: deploy / cut / resume, again and again, on 5 hosts (slow, but run in CI)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from tests.e2e.support import (
    DROP_DETECTED_S,
    SLOW_COMPOSE_PATH,
    Fleet,
    clear_slow,
    finish,
    install_slow_compose,
    make_slow,
    read_state,
    run_finished,
    wait_for,
)
from tests.lab import Lab, busybox_compose, project_container_ids

CYCLES = 10  # each host is cut once each way
HOSTS = ["nas", "mini-1", "mini-2", "pi-1", "CHELSTY"]
BLIP_S = DROP_DETECTED_S + 4  # seen as a drop, back well within the blip's reconnect timeout


@pytest.mark.slow
def test_ten_deploy_cut_resume_cycles_on_five_hosts(
    make_lab: Callable[[Iterable[str]], Lab], unique: str, tmp_path: Path
) -> None:
    """Each cycle cuts one host mid-deploy and resumes it: on odd cycles a blip long enough
    to be seen as a drop, so that the controller reconnects and re-attaches to the run; on
    even ones past the reconnect timeout. Every cycle ends completed with each service's
    container up exactly once."""
    lab = make_lab(HOSTS)
    services = {host: [f"s{unique}-{host.lower()}-{i}" for i in (1, 2, 3)] for host in HOSTS}
    overrides = {}
    for host, names in services.items():
        for svc in names:
            lab.add_service(host, svc, busybox_compose())
        install_slow_compose(lab, host)
        overrides[host] = {"compose_command": SLOW_COMPOSE_PATH}
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml", **overrides))

    for cycle in range(CYCLES):
        one_cycle(lab, fleet, services, cycle)


def one_cycle(lab: Lab, fleet: Fleet, services: dict[str, list[str]], cycle: int) -> None:
    victim = HOSTS[cycle % len(HOSTS)]
    first, second, _ = services[victim]
    blip = cycle % 2 == 1
    # A blip's run is still going when the link is back: the controller follows it again.
    make_slow(lab, victim, second, BLIP_S + 4 if blip else 6)
    reconnect = "60" if blip else "2"
    proc = fleet.start("deploy", "--hosts", "all", "--json", "--reconnect-timeout", reconnect)
    wait_for(lambda: read_state(lab, victim, "last_service") == first, 60, f"cycle {cycle}")
    with lab.link_down(victim):
        if blip:
            time.sleep(BLIP_S)
        else:
            result = finish(proc)
            assert result.code == 1, (cycle, result.stderr)
            assert result.host(victim)["status"] == "disconnected", (cycle, result.report)
            wait_for(lambda: run_finished(lab, victim), 60, f"cycle {cycle}: detached run")
    clear_slow(lab, victim)
    if blip:
        result = finish(proc)
        assert result.code == 0, (cycle, result.stdout, result.stderr)
        notes = fleet.meta(result.report["run_id"])["hosts"][victim]["notes"]
        assert any("link lost" in note for note in notes), (cycle, "no drop was seen", notes)
    others = [h for h in HOSTS if h != victim]
    assert all(result.host(h)["status"] == "completed" for h in others), (cycle, result.report)

    resumed = fleet("resume", victim, "--json")
    assert resumed.code == 0, (cycle, resumed.stdout, resumed.stderr)
    assert resumed.host(victim)["status"] == "completed"
    for host, names in services.items():
        for svc in names:
            assert len(project_container_ids(svc)) == 1, (cycle, host, svc)
