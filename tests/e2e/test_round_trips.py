"""Round trips per host, pinned: a change that adds one to a fresh deploy or to status fails.

Counted by the lab's link proxy (tests/lab/proxy.py: an exchange is the host answering
after the controller sent something) on a fast link: counts, not time. docs/internals.md
("Round trips") lists each one and why it cannot go.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from tests.conftest import LAB_SUBNET
from tests.e2e.support import Fleet
from tests.lab import Lab
from tests.lab.docker import remove_compose_projects
from tests.lab.proxy import LinkProxy, free_address, trust_proxy

MakeLab = Callable[[Iterable[str]], Lab]

pytestmark = pytest.mark.e2e

# The counts docs/internals.md accounts for; lower is welcome (lower these with it).
FRESH_DEPLOY = 7
STATUS = 7


def _counted(proxy: LinkProxy, run: Callable[[], None]) -> int:
    before = proxy.round_trips
    run()
    return proxy.round_trips - before


def _trace(proxy: LinkProxy) -> str:
    return "\n".join(f"{t:7.3f} {way:>4} {size}" for t, way, size in proxy.trace)


def test_fresh_deploy_and_status_round_trips(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    lab = make_lab(["RTT"])
    svc = f"rtt-{unique}"
    lab.add_service("RTT", svc)
    host = lab.hosts["RTT"]
    with LinkProxy(free_address(LAB_SUBNET, 8), (host.address, host.port)) as proxy:
        trust_proxy(lab.known_hosts, host, proxy.listen_address, proxy.port)
        entry = {"address": proxy.listen_address, "port": proxy.port}
        fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml", RTT=entry))

        def deploy() -> None:
            res = fleet("deploy", "--hosts", "RTT", "--json", timeout=60)
            assert res.code == 0, res.stderr[-2000:]

        def status() -> None:
            res = fleet("status", "--hosts", "RTT", "--json", timeout=30)
            assert res.code == 0, res.stderr[-2000:]

        deploy()  # the runner lands, as on any host's first deploy
        remove_compose_projects([svc])
        proxy.trace.clear()
        fresh = _counted(proxy, deploy)
        fresh_trace = _trace(proxy)
        proxy.trace.clear()
        seen = _counted(proxy, status)
        assert (fresh, seen) == (FRESH_DEPLOY, STATUS), (
            f"fresh deploy {fresh}, status {seen}\n{fresh_trace}\n--\n{_trace(proxy)}"
        )
    remove_compose_projects([svc])
