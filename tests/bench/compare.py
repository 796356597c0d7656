"""The tools users would pick instead, on the same lab and the same staged workload.

`python -m tests.bench --compare` runs pyinfra and ansible-playbook (installed into their
own venv, .venv-compare, so the project's dependencies stay as they are) with the
floor's stage commands: one shell task per stage per host, no facts, no retries.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def _hosts(inventory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    data = yaml.safe_load(inventory.read_text())
    return data["hosts"], data.get("defaults", {})


def _commands(host: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    settings = {**defaults, **host}
    compose = shlex.split(settings.get("compose_command", "docker compose"))
    return stage_commands(settings.get("root", "/opt/homelab"), list(settings["services"]), compose)


def pyinfra_argv(bin_dir: Path, inventory: Path, workdir: Path) -> list[str]:
    """pyinfra INVENTORY DEPLOY: the stages as server.shell operations, all hosts at once."""
    hosts, defaults = _hosts(inventory)
    entries = []
    for name, host in hosts.items():
        data = {
            "ssh_hostname": host["address"],
            "ssh_port": host.get("port", 22),
            "ssh_user": defaults["user"],
            "ssh_key": defaults["identity"],
            "ssh_known_hosts_file": defaults["known_hosts"],
            "ssh_strict_host_key_checking": "yes",
            "stages": _commands(host, defaults),
        }
        entries.append((name, data))
    (workdir / "pyinfra_inventory.py").write_text(f"lab = {entries!r}\n")
    (workdir / "pyinfra_deploy.py").write_text(
        "from pyinfra import host\n"
        "from pyinfra.operations import server\n"
        "for index, command in enumerate(host.data.stages):\n"
        "    server.shell(name=f'stage {index}', commands=[command])\n"
    )
    return [
        str(bin_dir / "pyinfra"), "-y", "--parallel", str(len(hosts)),
        str(workdir / "pyinfra_inventory.py"), str(workdir / "pyinfra_deploy.py"),
    ]  # fmt: skip


def ansible_argv(bin_dir: Path, inventory: Path, workdir: Path) -> list[str]:
    """ansible-playbook, linear strategy, forks = N, one shell task per stage."""
    hosts, defaults = _hosts(inventory)
    ssh_args = f"-o UserKnownHostsFile={defaults['known_hosts']} -o StrictHostKeyChecking=yes"
    lab = {
        name: {
            "ansible_host": host["address"],
            "ansible_port": host.get("port", 22),
            "ansible_user": defaults["user"],
            "ansible_ssh_private_key_file": defaults["identity"],
            "ansible_ssh_common_args": ssh_args,
            "ansible_python_interpreter": "/usr/bin/python3",
            "stages": _commands(host, defaults),
        }
        for name, host in hosts.items()
    }
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
        "-f", str(len(hosts)), str(workdir / "ansible_play.yml"),
    ]  # fmt: skip
