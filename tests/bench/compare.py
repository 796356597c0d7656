"""The tools users would pick instead, on the same lab and the same staged workload.

`python -m tests.bench --compare` runs pyinfra and ansible-playbook (installed into their
own venv, .venv-compare, so the project's dependencies stay as they are) with the
floor's stage commands: one shell task per stage per host, no facts, no retries.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.bench.floor import stage_commands
from tests.lab.docker import REPO

VENV = REPO / ".venv-compare"
TOOLS = ("pyinfra>=3,<4", "ansible-core>=2.16,<3")


def ensure_tools() -> Path:
    """A venv with pyinfra and ansible-core; returns its bin folder."""
    bin_dir = VENV / "bin"
    if not (bin_dir / "pyinfra").exists() or not (bin_dir / "ansible-playbook").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(bin_dir / "pip"), "install", "-q", *TOOLS], check=True)
    return bin_dir


@dataclass(frozen=True)
class Login:
    """How every tool logs in: the lab's user, key and known_hosts (host keys checked)."""

    user: str
    identity: str
    known_hosts: str


@dataclass(frozen=True)
class Target:
    """One host as a tool reaches it (directly or through a link proxy), and its commands."""

    address: str
    port: int
    commands: list[str]


def stage_targets(inventory: Path) -> tuple[dict[str, Target], Login]:
    """The overhead workload: every host of the inventory with the floor's stage commands."""
    data = yaml.safe_load(inventory.read_text())
    defaults = data.get("defaults", {})
    targets = {}
    for name, host in data["hosts"].items():
        settings = {**defaults, **host}
        compose = shlex.split(settings.get("compose_command", "docker compose"))
        root = settings.get("root", "/opt/homelab")
        commands = stage_commands(root, list(settings["services"]), compose)
        targets[name] = Target(host["address"], host.get("port", 22), commands)
    login = Login(defaults["user"], defaults["identity"], defaults["known_hosts"])
    return targets, login


def tool_env(env: dict[str, str], workdir: Path) -> dict[str, str]:
    """The bench's environment plus Ansible's own folders under `workdir` (a fresh one
    means no ControlMaster socket from an earlier run: a cold start, like fleet's)."""
    return {
        **env,
        "ANSIBLE_HOME": str(workdir / "ansible"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(workdir / "ansible-cp"),
        "ANSIBLE_NOCOLOR": "1",
    }


def pyinfra_argv(
    bin_dir: Path, targets: dict[str, Target], login: Login, workdir: Path
) -> list[str]:
    """pyinfra INVENTORY DEPLOY: each command a server.shell operation, all hosts at once."""
    entries = []
    for name, target in targets.items():
        data = {
            "ssh_hostname": target.address,
            "ssh_port": target.port,
            "ssh_user": login.user,
            "ssh_key": login.identity,
            "ssh_known_hosts_file": login.known_hosts,
            "ssh_strict_host_key_checking": "yes",
            "stages": target.commands,
        }
        entries.append((name, data))
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "pyinfra_inventory.py").write_text(f"lab = {entries!r}\n")
    (workdir / "pyinfra_deploy.py").write_text(
        "from pyinfra import host\n"
        "from pyinfra.operations import server\n"
        "for index, command in enumerate(host.data.stages):\n"
        "    server.shell(name=f'stage {index}', commands=[command])\n"
    )
    return [
        str(bin_dir / "pyinfra"), "-y", "--parallel", str(len(targets)),
        str(workdir / "pyinfra_inventory.py"), str(workdir / "pyinfra_deploy.py"),
    ]  # fmt: skip


def ansible_argv(
    bin_dir: Path, targets: dict[str, Target], login: Login, workdir: Path
) -> list[str]:
    """ansible-playbook, linear strategy, forks = N, one shell task per command."""
    ssh_args = f"-o UserKnownHostsFile={login.known_hosts} -o StrictHostKeyChecking=yes"
    lab = {
        name: {
            "ansible_host": target.address,
            "ansible_port": target.port,
            "ansible_user": login.user,
            "ansible_ssh_private_key_file": login.identity,
            "ansible_ssh_common_args": ssh_args,
            "ansible_python_interpreter": "/usr/bin/python3",
            "stages": target.commands,
        }
        for name, target in targets.items()
    }
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "ansible_inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": lab}}))
    stages = max(len(h["stages"]) for h in lab.values())
    tasks = [
        {"name": f"stage {i}", "ansible.builtin.shell": f"{{{{ stages[{i}] }}}}"}
        for i in range(stages)
    ]
    play = [{"hosts": "all", "gather_facts": False, "tasks": tasks}]
    (workdir / "ansible_play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    return [
        str(bin_dir / "ansible-playbook"), "-i", str(workdir / "ansible_inventory.yml"),
        "-f", str(len(targets)), str(workdir / "ansible_play.yml"),
    ]  # fmt: skip


TOOL_ARGV = {"pyinfra": pyinfra_argv, "ansible": ansible_argv}
