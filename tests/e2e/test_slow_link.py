"""CHELSTY on its LTE link, through the lab's userspace proxy: slow, then dead, then back."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from tests.conftest import LAB_SUBNET
from tests.e2e.support import Fleet
from tests.lab import Lab
from tests.lab.proxy import LinkProxy, free_address, trust_proxy

MakeLab = Callable[[Iterable[str]], Lab]

pytestmark = pytest.mark.e2e

RTT_S = 0.3
MBIT_S = 1_000_000 / 8  # bytes per second
RUNNER_UPLOAD_CUT = 40_000  # bytes towards the host: past the handshake, inside the runner


@pytest.fixture
def chelsty(make_lab: MakeLab, unique: str) -> Iterator[tuple[Lab, str]]:
    lab = make_lab(["CHELSTY"])
    svc = f"h11-relay-{unique}"
    lab.add_service("CHELSTY", svc)
    yield lab, svc


def _proxied_fleet(lab: Lab, proxy: LinkProxy, tmp_path: Path) -> Fleet:
    host = lab.hosts["CHELSTY"]
    trust_proxy(lab.known_hosts, host, proxy.listen_address, proxy.port)
    entry = {"address": proxy.listen_address, "port": proxy.port}
    inventory = lab.write_inventory(tmp_path / "hosts.yml", CHELSTY=entry)
    return Fleet(tmp_path / "state", inventory)


def test_chelsty_deploys_over_300ms_rtt_at_1_mbit(chelsty: tuple[Lab, str], tmp_path: Path) -> None:
    """A slow link only makes the deploy slower: the runner crosses it, the run completes."""
    lab, svc = chelsty
    host = lab.hosts["CHELSTY"]
    with LinkProxy(
        free_address(LAB_SUBNET), (host.address, host.port), rtt_s=RTT_S, rate_bytes_s=MBIT_S
    ) as proxy:
        fleet = _proxied_fleet(lab, proxy, tmp_path)
        res = fleet("deploy", "--hosts", "CHELSTY", "--json", timeout=120)
        assert res.code == 0, res.stderr[-2000:]
        assert res.host("CHELSTY")["services"] == {svc: "completed"}
        # 95 kB of runner at 1 Mbit/s and a dozen round trips: the link really was slow.
        assert res.elapsed > 1.0 and proxy.bytes_up > 90_000


def test_chelsty_cut_during_runner_upload_is_disconnected_then_resumes(
    chelsty: tuple[Lab, str], tmp_path: Path
) -> None:
    """A blackhole mid-upload: `disconnected` (not failed) in bounded time; once the link
    passes traffic again, `fleet resume CHELSTY` completes."""
    lab, svc = chelsty
    host = lab.hosts["CHELSTY"]
    with LinkProxy(
        free_address(LAB_SUBNET),
        (host.address, host.port),
        rtt_s=RTT_S,
        rate_bytes_s=MBIT_S,
        blackhole_after_up=RUNNER_UPLOAD_CUT,
    ) as proxy:
        fleet = _proxied_fleet(lab, proxy, tmp_path)
        cut = fleet(
            "deploy", "--hosts", "CHELSTY", "--json", "--reconnect-timeout", "3", timeout=90
        )
        assert proxy.blackholed, "the cut never happened"
        assert cut.code == 1, cut.stderr[-2000:]
        entry = cut.host("CHELSTY")
        assert entry["status"] == "disconnected", entry
        assert cut.elapsed < 45, cut.elapsed  # keepalive sees it in 15-20 s, then 3 s
        assert not (host.root_dir / "state" / "deploy" / "stage_deploy_complete").exists()

        proxy.restore()
        back = fleet("resume", "CHELSTY", "--json", timeout=90)
        assert back.code == 0, back.stderr[-2000:]
        assert back.host("CHELSTY")["status"] == "completed"
        assert back.host("CHELSTY")["services"][svc] in ("completed", "skipped")
