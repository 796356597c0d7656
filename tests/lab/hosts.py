"""A lab of real OpenSSH hosts on one machine (TESTWORLD.md).

Host i listens on its own loopback address, sees its own folder as /opt/homelab and a
plain home as /root (its own mount namespace), and its host key is in a dedicated
known_hosts file, so fleet checks host keys in tests as it does in production.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.lab.docker import busybox_compose, remove_compose_projects
from tests.lab.kinds import (
    BANNER_BASHRC,
    LabHostOptions,
    namespace_mounts,
    prepare_kind,
    remove_user,
    sshd_config,
)
from tests.lab.procs import alive, children, stop_run

SSHD = "/usr/sbin/sshd"
HOST_ROOT = "/opt/homelab"

SSHD_CONFIG = """\
ListenAddress {address}
Port {port}
HostKey {dir}/ssh_host_ed25519_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
MaxStartups 500
MaxSessions 200
LogLevel ERROR
Subsystem sftp internal-sftp
"""

PLAIN_BASHRC = "# a stock host's root shell: nothing slow here\n"

GIT = "/usr/bin/git"
# Bound over GIT on a host without git: a call fails as "not installed" would, and leaves
# a trace, so a test can prove nothing called it.
NO_GIT = """#!/bin/sh
echo "$*" >> /opt/homelab/.git-called
echo "sh: git: not found" >&2
exit 127
"""


class LabError(RuntimeError):
    """A lab host could not be set up or controlled."""


@dataclass
class LabHost:
    """One sshd 'machine' of the lab."""

    name: str
    address: str
    port: int
    root_dir: Path  # seen as /opt/homelab on the host
    sshd_dir: Path
    services: list[str] = field(default_factory=list)
    options: LabHostOptions = field(default_factory=LabHostOptions)
    # Opt-in: the inventory names root_dir itself as the host's root, a path that is the
    # same inside its mount namespace and outside, where dockerd resolves bind mounts and
    # secret files. Default hosts keep /opt/homelab, seen only by their own sshd.
    real_root: bool = False
    no_git: bool = False  # git hidden in the host's mount namespace (Lab.hide_git)

    @property
    def pid_file(self) -> Path:
        return self.sshd_dir / "sshd.pid"

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
    )


def _wait_listening(address: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((address, port), 0.5):
            return
        time.sleep(0.05)
    raise LabError(f"sshd on {address}:{port} did not start listening")


def _iptables(action: str, rule: list[str]) -> None:
    subprocess.run(["iptables", "-w", action, *rule], check=True, capture_output=True)


class Lab:
    """N real sshd hosts; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        workdir: Path,
        names: Iterable[str],
        subnet: str = "127.0.1",
        kinds: dict[str, LabHostOptions] | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.key = self.workdir / "id_ed25519"
        self.known_hosts = self.workdir / "known_hosts"
        self.hosts: dict[str, LabHost] = {}
        self._rules: list[list[str]] = []
        self._projects: set[str] = set()
        for index, name in enumerate(names):
            self.hosts[name] = LabHost(
                name=name,
                address=_address(subnet, index),
                port=22,
                root_dir=self.workdir / "hosts" / name,
                sshd_dir=self.workdir / "sshd" / name,
                options=(kinds or {}).get(name, LabHostOptions()),
            )

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Make keys, configs and folders, then start every host's sshd."""
        if os.geteuid() != 0:
            raise LabError("the lab needs root (sshd per address, mount namespaces, iptables)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        Path(HOST_ROOT).mkdir(parents=True, exist_ok=True)
        if not self.key.exists():
            _keygen(self.key, "fleet-lab")
        for host in self.hosts.values():
            self._prepare(host)
        self._write_known_hosts()
        for host in self.hosts.values():
            self.start_sshd(host.name)

    def stop(self) -> None:
        """Tear everything down; safe to call twice and after a failure.

        A run a failed test left going would keep deploying after the teardown: each
        host's run is killed first, with every command it started.
        """
        for host in self.hosts.values():
            stop_run(host.root_dir)
        for rule in reversed(self._rules):
            with contextlib.suppress(subprocess.CalledProcessError):
                _iptables("-D", rule)
        self._rules.clear()
        for host in self.hosts.values():
            self.stop_sshd(host.name)
            remove_user(host.options)
        remove_compose_projects(self._projects)

    def _prepare(self, host: LabHost) -> None:
        host.sshd_dir.mkdir(parents=True, exist_ok=True)
        (host.root_dir).mkdir(parents=True, exist_ok=True)
        home = host.sshd_dir / "home"
        home.mkdir(exist_ok=True)
        (home / ".bashrc").write_text(BANNER_BASHRC if host.options.banner else PLAIN_BASHRC)
        hostkey = host.sshd_dir / "ssh_host_ed25519_key"
        if not hostkey.exists():
            _keygen(hostkey, f"lab-{host.name}")
        (host.sshd_dir / "authorized_keys").write_text(self.key.with_suffix(".pub").read_text())
        config = SSHD_CONFIG.format(address=host.address, port=host.port, dir=host.sshd_dir)
        config = sshd_config(host.options, config, host.sshd_dir)
        (host.sshd_dir / "sshd_config").write_text(config)
        pubkey = self.key.with_suffix(".pub").read_text()
        prepare_kind(host.options, host.sshd_dir, host.root_dir, pubkey)

    def _write_known_hosts(self) -> None:
        lines = []
        for host in self.hosts.values():
            pub = (host.sshd_dir / "ssh_host_ed25519_key.pub").read_text().split()
            lines.append(f"{_known_hosts_name(host)} {pub[0]} {pub[1]}\n")
        self.known_hosts.write_text("".join(lines))

    def start_sshd(self, name: str) -> None:
        """Start one host's sshd in its own mount namespace (its /opt/homelab and /root)."""
        host = self.hosts[name]
        host.pid_file.unlink(missing_ok=True)
        home = host.sshd_dir / "home"
        kind = namespace_mounts(host.options, HOST_ROOT, host.sshd_dir)
        inner = f"mount --bind {host.root_dir} {HOST_ROOT}{kind} && mount --bind {home} /root && "
        if host.no_git:
            fake = host.sshd_dir / "no-git"
            fake.write_text(NO_GIT)
            fake.chmod(0o755)
            inner += f"mount --bind {fake} {GIT} && "
        inner += f"exec {SSHD} -f {host.sshd_dir}/sshd_config -E {host.sshd_dir}/sshd.log"
        subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", inner], check=True)
        # A listening port alone could be another sshd (one on 0.0.0.0:22 takes the port
        # from ours): only our pid file says this host's sshd is the one that answers.
        deadline = time.monotonic() + 10
        while host.pid() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if host.pid() is None:
            log = (host.sshd_dir / "sshd.log").read_text(errors="replace")[-500:]
            raise LabError(f"sshd for {name} on {host.address}:{host.port} did not start: {log}")
        _wait_listening(host.address, host.port)

    def stop_sshd(self, name: str) -> None:
        """Stop one host's sshd by the pid in its PidFile (never by name)."""
        host = self.hosts[name]
        pid = host.pid()
        if pid is None:
            return
        # The listener's children are the open connections: a stopped sshd leaves them
        # running (in a namespace whose folders are about to go), so end them too.
        for child in [pid, *children(pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and alive(pid):
            time.sleep(0.02)
        host.pid_file.unlink(missing_ok=True)

    def hide_git(self, name: str) -> None:
        """The host has no git (a push host): restart its sshd with git hidden."""
        self.hosts[name].no_git = True
        if self.hosts[name].pid() is not None:
            self.stop_sshd(name)
            self.start_sshd(name)

    def git_calls(self, name: str) -> str:
        """The git command lines a host without git was asked to run (empty: none)."""
        trace = self.hosts[name].root_dir / ".git-called"
        return trace.read_text() if trace.exists() else ""

    # -- faults ------------------------------------------------------------------------

    def _link_rules(self, host: LabHost, target: str) -> list[list[str]]:
        port = str(host.port)
        return [
            ["INPUT", "-d", host.address, "-p", "tcp", "--dport", port, "-j", target],
            ["INPUT", "-s", host.address, "-p", "tcp", "--sport", port, "-j", target],
        ]

    def cut(self, name: str) -> None:
        """Drop every packet to and from the host's sshd: open sessions hang like a dead link."""
        self._add_rules(self._link_rules(self.hosts[name], "DROP"))

    def reject(self, name: str) -> None:
        """Refuse new connections to the host (RST), as a host whose sshd is firewalled."""
        host = self.hosts[name]
        rule = ["INPUT", "-d", host.address, "-p", "tcp", "--dport", str(host.port)]
        self._add_rules([[*rule, "-j", "REJECT", "--reject-with", "tcp-reset"]])

    def restore(self, name: str) -> None:
        """Remove every fault rule of this host."""
        address = self.hosts[name].address
        for rule in [r for r in self._rules if address in r]:
            with contextlib.suppress(subprocess.CalledProcessError):
                _iptables("-D", rule)
            self._rules.remove(rule)

    @contextlib.contextmanager
    def link_down(self, name: str) -> Iterator[None]:
        """The host's link is cut inside the block and restored after it, also on error."""
        self.cut(name)
        try:
            yield
        finally:
            self.restore(name)

    def _add_rules(self, rules: list[list[str]]) -> None:
        for rule in rules:
            _iptables("-I", rule)
            self._rules.append(rule)

    # -- services and inventory --------------------------------------------------------

    def add_service(
        self,
        host: str,
        svc: str,
        compose: str | None = None,
        healthcheck: str | None = None,
        env: str | None = None,
        override: str | None = None,
    ) -> Path:
        """Put a service definition (and its config) on a host; teardown removes its project."""
        lab_host = self.hosts[host]
        service_dir = lab_host.root_dir / "repo" / "services" / svc
        service_dir.mkdir(parents=True, exist_ok=True)
        (service_dir / "compose.yaml").write_text(compose or busybox_compose())
        if healthcheck is not None:
            (service_dir / "healthcheck.sh").write_text(healthcheck)
        config_dir = lab_host.root_dir / "config" / svc
        if env is not None or override is not None:
            config_dir.mkdir(parents=True, exist_ok=True)
        if env is not None:
            (config_dir / ".env").write_text(env)
        if override is not None:
            (config_dir / "docker-compose.override.yml").write_text(override)
        if svc not in lab_host.services:
            lab_host.services.append(svc)
        self._projects.add(svc)
        return service_dir

    def track_project(self, project: str) -> None:
        """Remove this compose project at teardown too."""
        self._projects.add(project)

    def inventory_data(
        self, services: dict[str, list[str]] | None = None, **host_overrides: Any
    ) -> dict[str, Any]:
        """The inventory for this lab as a dict (see write_inventory)."""
        hosts: dict[str, Any] = {}
        for host in self.hosts.values():
            entry: dict[str, Any] = {"address": host.address, "port": host.port}
            if host.options.non_root:
                entry["user"] = host.options.user
            if host.real_root:
                entry["root"] = str(host.root_dir)
            entry["services"] = list((services or {}).get(host.name, host.services))
            hosts[host.name] = entry
        for name, extra in host_overrides.items():
            hosts[name].update(extra)
        defaults = {
            "user": "root",
            "identity": str(self.key),
            "known_hosts": str(self.known_hosts),
        }
        return {"defaults": defaults, "hosts": hosts}

    def write_inventory(
        self, path: Path, services: dict[str, list[str]] | None = None, **host_overrides: Any
    ) -> Path:
        """Write an inventory naming every lab host with its address, key and known_hosts.

        `services` maps host -> services (default: those added with add_service);
        `host_overrides` maps host name -> extra keys for that host.
        """
        path = Path(path)
        data = self.inventory_data(services, **host_overrides)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def state(self) -> dict[str, Any]:
        """What `down` needs to find this lab again from another process."""
        return {
            "workdir": str(self.workdir),
            "hosts": {
                h.name: {"address": h.address, "services": h.services} for h in self.hosts.values()
            },
            "projects": sorted(self._projects),
            "rules": self._rules,
        }

    def save_state(self) -> None:
        (self.workdir / "lab.json").write_text(json.dumps(self.state(), indent=2))


def _address(subnet: str, index: int) -> str:
    """Host i of a lab: subnet.(i+1), spilling into the next /24 past 254 hosts."""
    base = [int(part) for part in subnet.split(".")]
    third, fourth = base[2] + index // 254, index % 254 + 1
    return f"{base[0]}.{base[1]}.{third}.{fourth}"


def _known_hosts_name(host: LabHost) -> str:
    return host.address if host.port == 22 else f"[{host.address}]:{host.port}"
