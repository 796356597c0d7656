"""--until-done through the real lab: CHELSTY's link, cut and restored by the userspace
proxy (tests/lab/proxy.py), while fleet keeps trying; `fleet resume --pending`.

Timeouts are short (connect 2-3 s, reconnect 3 s) so each test stays near half a minute.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LAB_SUBNET
from tests.e2e.support import (
    SLOW_COMPOSE_PATH,
    Fleet,
    finish,
    host_logs,
    install_slow_compose,
    make_slow,
    read_state,
    struct_events,
    wait_for,
)
from tests.lab import Lab, busybox_compose, project_container_ids
from tests.lab.proxy import LinkProxy, free_address, trust_proxy

MakeLab = Callable[[Iterable[str]], Lab]

pytestmark = pytest.mark.e2e

QUICK = ("--connect-timeout", "2", "--reconnect-timeout", "3")


@pytest.fixture
def chelsty(make_lab: MakeLab, unique: str) -> Iterator[tuple[Lab, list[str]]]:
    lab = make_lab(["CHELSTY", "nas"])
    services = [f"u26-{unique}-{i}" for i in (1, 2)]
    for svc in services:
        lab.add_service("CHELSTY", svc, busybox_compose())
    lab.add_service("nas", f"u26-{unique}-nas", busybox_compose())
    yield lab, services


@pytest.fixture
def proxy(chelsty: tuple[Lab, list[str]]) -> Iterator[LinkProxy]:
    host = chelsty[0].hosts["CHELSTY"]
    with LinkProxy(free_address(LAB_SUBNET, third=26), (host.address, host.port)) as link:
        yield link


def proxied_fleet(lab: Lab, link: LinkProxy, tmp_path: Path, **chelsty: Any) -> Fleet:
    host = lab.hosts["CHELSTY"]
    trust_proxy(lab.known_hosts, host, link.listen_address, link.port)
    entry = {"address": link.listen_address, "port": link.port, **chelsty}
    inventory = lab.write_inventory(tmp_path / "hosts.yml", CHELSTY=entry)
    return Fleet(tmp_path / "state", inventory)


def completions(lab: Lab, host: str) -> dict[str, int]:
    """How many times each service was deployed on the host, over all its run logs."""
    counts: dict[str, int] = {}
    for log in host_logs(lab, host):
        for event in struct_events(log.read_text(errors="replace")):
            if event.get("event") == "service_completed":
                counts[event["service"]] = counts.get(event["service"], 0) + 1
    return counts


def later(seconds: float, action: Callable[[], None]) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def test_a_host_away_at_the_start_completes_once_back(
    chelsty: tuple[Lab, list[str]], proxy: LinkProxy, tmp_path: Path
) -> None:
    """Blackholed before the run, restored 20 s in: completed within the run, attempts >= 2."""
    lab, services = chelsty
    fleet = proxied_fleet(lab, proxy, tmp_path)
    proxy.blackhole()
    timer = later(20, proxy.restore)
    try:
        res = fleet("deploy", "--json", *QUICK, "--until-done", "90s", timeout=120)
    finally:
        timer.cancel()
    assert res.code == 0, res.stderr[-2000:]
    entry = res.host("CHELSTY")
    assert entry["status"] == "completed" and entry["attempts"] >= 2, entry
    assert res.host("nas")["attempts"] == 1
    assert res.elapsed > 20
    assert completions(lab, "CHELSTY") == {svc: 1 for svc in services}


def test_a_host_cut_mid_deploy_completes_without_redeploying_what_it_did(
    chelsty: tuple[Lab, list[str]], proxy: LinkProxy, tmp_path: Path
) -> None:
    """The link drops once the first service is up and stays away past the reconnect
    timeout (that try ends disconnected); once back, a later try resumes the run: the
    first service's container is the same one, every service deployed once."""
    lab, services = chelsty
    first, second = services
    install_slow_compose(lab, "CHELSTY")
    make_slow(lab, "CHELSTY", second, 6)
    fleet = proxied_fleet(lab, proxy, tmp_path, compose_command=SLOW_COMPOSE_PATH)
    proc = fleet.start("deploy", "--json", *QUICK, "--until-done", "90s")
    wait_for(lambda: read_state(lab, "CHELSTY", "last_service") == first, 60, "first service")
    container = project_container_ids(first)
    proxy.drop()
    timer = later(12, proxy.restore)
    try:
        res = finish(proc, timeout=120)
    finally:
        timer.cancel()
    assert res.code == 0, res.stderr[-2000:]
    entry = res.host("CHELSTY")
    assert entry["status"] == "completed" and entry["attempts"] >= 2, entry
    assert project_container_ids(first) == container  # not recreated
    assert completions(lab, "CHELSTY") == {svc: 1 for svc in services}
    meta = fleet.meta(res.report["run_id"])["hosts"]["CHELSTY"]
    assert meta["gaps"], "the link's loss is in the record"


def test_a_host_that_stays_away_is_unreachable_with_its_attempts_and_the_resume_command(
    chelsty: tuple[Lab, list[str]], proxy: LinkProxy, tmp_path: Path
) -> None:
    lab, _ = chelsty
    fleet = proxied_fleet(lab, proxy, tmp_path)
    proxy.blackhole()
    res = fleet("deploy", *QUICK, "--until-done", "12s", timeout=60)
    assert res.code == 1, res.stderr[-2000:]
    assert "waiting: try 1 ended unreachable" in res.stdout  # the plain line of a wait
    assert f"fleet resume -i {fleet.inventory} CHELSTY" in res.stdout
    run = sorted(fleet.runs_dir().iterdir())[-1]
    entry = json.loads((run / "report.json").read_text())["hosts"]["CHELSTY"]
    assert entry["status"] == "unreachable" and entry["attempts"] >= 2, entry
    assert res.elapsed < 12 + 2 * 2 + 10  # the deadline, one try's bound, the start


def test_a_flapping_link_ends_completed_with_each_service_deployed_once(
    chelsty: tuple[Lab, list[str]], proxy: LinkProxy, tmp_path: Path
) -> None:
    """The proxy up 3 s, down 5 s (every connection dropped), again and again, through a
    run made to last a few such rounds."""
    lab, services = chelsty
    install_slow_compose(lab, "CHELSTY")
    for svc, seconds in zip(services, (5, 8), strict=True):
        make_slow(lab, "CHELSTY", svc, seconds)
    fleet = proxied_fleet(lab, proxy, tmp_path, compose_command=SLOW_COMPOSE_PATH)
    stop = threading.Event()

    def flap() -> None:
        while not stop.wait(3):
            proxy.drop()
            if stop.wait(5):
                break
            proxy.restore()
        proxy.restore()

    flapper = threading.Thread(target=flap, daemon=True)
    proc = fleet.start("deploy", "--json", "--connect-timeout", "7", "--until-done", "120s")
    flapper.start()
    try:
        res = finish(proc, timeout=180)
    finally:
        stop.set()
        flapper.join(15)
    assert res.code == 0, res.stderr[-2000:]
    assert res.host("CHELSTY")["status"] == "completed", res.host("CHELSTY")
    assert proxy.connections >= 3, "the link never flapped under the run"
    assert completions(lab, "CHELSTY") == {svc: 1 for svc in services}
    assert all(len(project_container_ids(svc)) == 1 for svc in services)


def test_resume_pending_picks_exactly_the_hosts_that_did_not_complete(
    chelsty: tuple[Lab, list[str]], proxy: LinkProxy, tmp_path: Path
) -> None:
    lab, services = chelsty
    fleet = proxied_fleet(lab, proxy, tmp_path)
    proxy.blackhole()
    first = fleet("deploy", "--json", *QUICK, timeout=60)
    assert first.host("CHELSTY")["status"] == "unreachable"
    assert first.host("nas")["status"] == "completed"
    status = fleet("status", "--json", *QUICK[:2], timeout=60)
    assert status.host("CHELSTY")["status"] == "unreachable"  # it cannot be read either
    assert status.host("nas")["status"] == "completed"

    proxy.restore()
    status = fleet("status", "--json", timeout=60)
    assert status.host("CHELSTY")["status"] == "pending"
    assert first.report["run_id"] in status.host("CHELSTY")["error"]

    pending = fleet("resume", "--pending", "--json", "--until-done", "30s", timeout=90)
    assert pending.code == 0, pending.stderr[-2000:]
    assert set(pending.report["hosts"]) == {"CHELSTY"}
    assert pending.host("CHELSTY")["services"] == {svc: "completed" for svc in services}

    started = time.monotonic()
    idle = fleet("resume", "--pending", timeout=30)
    assert idle.code == 0 and "nothing pending" in idle.stdout
    assert time.monotonic() - started < 5
    assert len(list(fleet.runs_dir().iterdir())) == 2  # the idle one recorded no run
