"""The test world itself: real sshd hosts with their own /opt/homelab, real Docker Compose."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable

from tests.lab import Lab, busybox_compose, project_container_ids


def ssh(lab: Lab, name: str, command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a command on a lab host with OpenSSH's client, host keys checked strictly."""
    host = lab.hosts[name]
    argv = [
        "ssh", "-i", str(lab.key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={lab.known_hosts}", "-o", "ConnectTimeout=5",
        "-p", str(host.port), f"root@{host.address}", command,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def test_three_hosts_each_see_their_own_homelab_and_run_compose(
    make_lab: Callable[[Iterable[str]], Lab], unique: str
) -> None:
    """Over real SSH, each host writes under /opt/homelab into its own folder and runs compose."""
    lab = make_lab(["alpha", "beta", "gamma"])
    for name in lab.hosts:
        svc = f"smoke-{unique}-{name}"
        lab.add_service(name, svc, busybox_compose())
        result = ssh(
            lab, name,
            f"echo {name} > /opt/homelab/whoami && "
            f"docker compose -p {svc} -f /opt/homelab/repo/services/{svc}/compose.yaml "
            "up -d --wait",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert (lab.hosts[name].root_dir / "whoami").read_text() == f"{name}\n"
        assert len(project_container_ids(svc)) == 1
    assert not (lab.hosts["alpha"].root_dir / "repo" / "services" / f"smoke-{unique}-beta").exists()


def test_cut_link_hangs_and_restore_brings_it_back(
    make_lab: Callable[[Iterable[str]], Lab],
) -> None:
    """A cut link makes SSH time out (a dead LTE link); restoring it makes SSH work again."""
    lab = make_lab(["lte"])
    with lab.link_down("lte"):
        result = ssh(lab, "lte", "true", timeout=30)
        assert result.returncode == 255
        assert "timed out" in result.stderr.lower()
    assert ssh(lab, "lte", "true").returncode == 0


def test_host_key_is_checked(make_lab: Callable[[Iterable[str]], Lab]) -> None:
    """The lab's known_hosts holds each host's own key: a swapped key is refused."""
    lab = make_lab(["one", "two"])
    one, two = lab.hosts["one"], lab.hosts["two"]
    lines = lab.known_hosts.read_text().splitlines()
    swapped = [line.replace(one.address, "X").replace(two.address, one.address) for line in lines]
    lab.known_hosts.write_text("\n".join(swapped) + "\n")
    result = ssh(lab, "one", "true")
    assert result.returncode == 255
    assert "host key" in result.stderr.lower()
