"""The controller end to end: real sshd hosts, real Docker, the real `fleet` CLI."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from tests.design import check_shape
from tests.e2e.support import Fleet, read_state
from tests.lab import Lab, busybox_compose, project_container_ids

MakeLab = Callable[[Iterable[str]], Lab]

pytestmark = pytest.mark.e2e

# A service whose `up` fails at once: its image is not there and may not be pulled.
BROKEN = busybox_compose(image="fleet-test/missing:none")  # pull_policy: never: no registry


def test_five_hosts_deploy_concurrently_and_an_unchanged_runner_is_not_uploaded_again(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """5 hosts, 2 real services each, one connection per host; a rerun uploads 0 runner bytes."""
    lab = make_lab([f"h{i}" for i in range(5)])
    for name in lab.hosts:
        for svc in ("a", "b"):
            lab.add_service(name, f"{svc}-{name}-{unique}")
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))

    first = fleet("deploy", "--hosts", "all", "--json")
    assert first.code == 0, first.stderr
    check_shape(first.report)
    assert first.report["status"] == "completed"
    for name in lab.hosts:
        entry = first.host(name)
        assert entry["status"] == "completed" and entry["last_stage"] == "complete"
        assert entry["services"] == {
            f"a-{name}-{unique}": "completed",
            f"b-{name}-{unique}": "completed",
        }
        assert project_container_ids(f"b-{name}-{unique}")
        assert read_state(lab, name, "last_service") == f"b-{name}-{unique}"
    first_meta = fleet.meta(first.report["run_id"])["hosts"]
    assert all(m["connections"] == 1 for m in first_meta.values()), first_meta
    assert all(m["runner_bytes_uploaded"] > 0 for m in first_meta.values())
    assert (
        (fleet.runs_dir() / first.report["run_id"] / "hosts" / "h0.log")
        .read_text()
        .startswith("[STRUCT] ")
    )

    second = fleet("deploy", "--hosts", "all", "--json")
    assert second.code == 0, second.stderr
    second_meta = fleet.meta(second.report["run_id"])["hosts"]
    assert all(m["runner_bytes_uploaded"] == 0 for m in second_meta.values())
    assert all(m["connections"] == 1 for m in second_meta.values()), second_meta

    again = fleet("report", "--json")
    assert again.code == 0 and again.report == second.report


def test_failing_service_fails_its_host_only_then_resume_deploys_only_the_rest(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """A broken service fails its host with diagnostics (exit 1); fixed, `resume` finishes it."""
    lab = make_lab(["good", "bad"])
    first, broken, last = (f"{s}-{unique}" for s in ("one", "two", "three"))
    lab.add_service("good", f"ok-{unique}")
    lab.add_service("bad", first)
    lab.add_service("bad", broken, compose=BROKEN)
    lab.add_service("bad", last)
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))

    result = fleet("deploy", "--hosts", "all", "--json")
    assert result.code == 1, result.stderr
    check_shape(result.report)
    assert result.host("good")["status"] == "completed"
    bad = result.host("bad")
    assert bad["status"] == "failed" and bad["failed_stage"] == "deploy"
    assert bad["services"] == {first: "completed", broken: "failed", last: "pending"}
    assert bad["last_service"] == first
    assert broken in bad["error"] and "deploy" in bad["error"]
    assert bad["diagnostics"] and bad["diagnostics"].startswith("/opt/homelab/logs/deploy/")
    local = fleet.runs_dir() / result.report["run_id"] / "hosts" / "bad.diagnostics.txt"
    assert broken in local.read_text()

    table = fleet("report")
    assert table.code == 1
    assert "fleet resume" in table.stdout and "bad" in table.stdout
    assert "diagnostics" in table.stdout

    kept = project_container_ids(first)
    lab.add_service("bad", broken)  # the fix: a definition that starts
    resumed = fleet("resume", "bad", "--json")
    assert resumed.code == 0, resumed.stderr
    check_shape(resumed.report)
    assert set(resumed.report["hosts"]) == {"bad"}
    assert resumed.host("bad")["services"] == {
        first: "skipped",
        broken: "completed",
        last: "completed",
    }
    assert project_container_ids(first) == kept  # not touched again
    assert read_state(lab, "bad", "last_service") == last


def test_unreachable_host_is_reported_with_its_reason_and_the_rest_complete(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """sshd down on one host: `unreachable` (refused), quickly; the others complete; exit 1."""
    lab = make_lab(["up", "down"])
    lab.add_service("up", f"up-{unique}")
    lab.add_service("down", f"down-{unique}")
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))
    lab.stop_sshd("down")

    result = fleet("deploy", "--hosts", "all", "--json")
    assert result.code == 1, result.stderr
    check_shape(result.report)
    assert result.host("up")["status"] == "completed"
    down = result.host("down")
    assert down["status"] == "unreachable" and "refused" in down["error"]
    assert down["services"] == {f"down-{unique}": "pending"}
    assert result.elapsed < 30

    human = fleet("report")
    assert "start sshd on down" in human.stdout


def test_unknown_host_key_needs_accept_new_and_a_changed_key_is_never_accepted(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """Unknown key: refused; --accept-new adds it once; a different key is then refused."""
    lab = make_lab(["fresh"])
    lab.add_service("fresh", f"fresh-{unique}")
    known = tmp_path / "known_hosts"
    known.write_text("")
    inventory = lab.write_inventory(tmp_path / "hosts.yml", fresh={"known_hosts": str(known)})
    fleet = Fleet(tmp_path / "state", inventory)

    refused = fleet("deploy", "--hosts", "all", "--json")
    assert refused.code == 1
    assert refused.host("fresh")["status"] == "unreachable"
    assert "unknown host key" in refused.host("fresh")["error"]

    accepted = fleet("deploy", "--hosts", "all", "--json", "--accept-new")
    assert accepted.code == 0, accepted.stdout
    assert lab.hosts["fresh"].address in known.read_text()

    entry = known.read_text().split()
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    known.write_text(f"{entry[0]} {other.with_suffix('.pub').read_text()}")
    changed = fleet("deploy", "--hosts", "all", "--json", "--accept-new")
    assert changed.code == 1
    assert changed.host("fresh")["status"] == "unreachable"
    assert "host key changed" in changed.host("fresh")["error"]


def test_status_reads_every_host(make_lab: MakeLab, unique: str, tmp_path: Path) -> None:
    """`fleet status` reads stage, last service and outcome from the hosts, read-only."""
    lab = make_lab(["s1", "s2"])
    lab.add_service("s1", f"st-{unique}")
    fleet = Fleet(
        tmp_path / "state",
        lab.write_inventory(
            tmp_path / "hosts.yml", services={"s1": [f"st-{unique}"], "s2": [f"st2-{unique}"]}
        ),
    )
    lab.add_service("s2", f"st2-{unique}")
    assert fleet("deploy", "--hosts", "s1").code == 0

    status = fleet("status", "--json")
    check_shape(status.report, a_run=False)
    assert status.code == 1  # s2 was never deployed: not completed
    assert status.host("s1")["status"] == "completed"
    assert status.host("s1")["last_service"] == f"st-{unique}"
    assert status.host("s2")["status"] == "not_deployed"
    assert not (lab.hosts["s2"].root_dir / ".fleet").exists(), "status changes nothing"
    table = fleet("status")
    assert "s1" in table.stdout and "not_deployed" in table.stdout
    assert "run fleet deploy" in table.stdout and "--hosts s2" in table.stdout


def test_plain_output_when_not_a_terminal(make_lab: MakeLab, unique: str, tmp_path: Path) -> None:
    """Without a terminal: one timed sentence per event, then the summary table and totals."""
    lab = make_lab(["p1"])
    lab.add_service("p1", f"plain-{unique}")
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))
    result = fleet("deploy", "--hosts", "p1")
    assert result.code == 0, result.stderr
    assert re.search(
        rf"^\d\d:\d\d:\d\d p1 deploy plain-{unique}: completed in \d+\.\ds$",
        result.stdout,
        re.MULTILINE,
    ), result.stdout
    assert "\x1b[" not in result.stdout
    assert "1 host: 1 completed" in result.stdout


def test_bad_inventory_exits_2_and_contacts_nobody(tmp_path: Path) -> None:
    """An invalid inventory or an unknown host: exit 2, a one-line reason, no run recorded."""
    bad = tmp_path / "hosts.yml"
    bad.write_text("hosts:\n  h1:\n    address: 127.0.1.250\n    servcies: [x]\n")
    fleet = Fleet(tmp_path / "state", bad)
    result = fleet("deploy", "--hosts", "all")
    assert result.code == 2
    assert "servcies" in result.stderr
    assert not fleet.runs_dir().exists()

    good = tmp_path / "good.yml"
    good.write_text("hosts:\n  h1:\n    address: 127.0.1.250\n    services: [x]\n")
    unknown = Fleet(tmp_path / "state", good)("deploy", "--hosts", "h2")
    assert unknown.code == 2 and "h2" in unknown.stderr
    assert not fleet.runs_dir().exists()


def test_unhealthy_service_fails_verify_within_the_verify_timeout(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """A container whose Docker healthcheck fails: verify gives up after --verify-timeout,
    names the service, and the diagnostics are collected; the service before it stays up."""
    lab = make_lab(["v1"])
    good, sick = f"ok-{unique}", f"sick-{unique}"
    lab.add_service("v1", good, busybox_compose())
    lab.add_service("v1", sick, busybox_compose(healthy=False))
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))

    result = fleet("deploy", "--hosts", "all", "--json", "--verify-timeout", "3")
    assert result.code == 1, result.stderr
    entry = result.host("v1")
    assert entry["failed_stage"] == "verify" and sick in entry["error"]
    assert "after 3" in entry["error"], entry["error"]
    assert entry["diagnostics"] and entry["services"][good] == "completed"
    assert len(project_container_ids(good)) == 1
    assert result.elapsed < 60


def test_connections_use_aes_gcm_when_the_host_offers_it(make_lab: MakeLab, tmp_path: Path) -> None:
    """OpenSSH offers chacha20 first; fleet asks for AES-GCM (far cheaper in asyncssh) and
    gets it, host key still checked."""
    import asyncio

    from controller.options import ConnectOptions
    from controller.transport.factory import ConnectorFactoryImpl
    from controller.transport.ssh import SshConnector
    from inventory import load_inventory

    lab = make_lab(["h0"])
    inventory = load_inventory(lab.write_inventory(tmp_path / "hosts.yml", {"h0": ["web"]}))

    async def ciphers() -> tuple[str, str]:
        conn = ConnectorFactoryImpl(ConnectOptions())(inventory.hosts[0])
        assert isinstance(conn, SshConnector)
        await conn.connect()
        try:
            ssh = conn._require()
            return ssh.get_extra_info("send_cipher"), ssh.get_extra_info("recv_cipher")
        finally:
            await conn.close()

    assert asyncio.run(ciphers()) == ("aes128-gcm@openssh.com", "aes128-gcm@openssh.com")
