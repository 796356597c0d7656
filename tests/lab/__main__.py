"""`python -m tests.lab demo|down`: the local lab behind `make demo`.

demo: start one real sshd host per host of the example inventory (examples/homelab.yml) on
127.0.2.x, give each git host a checkout of the example services (a `source: push` host,
CHELSTY, gets none, and no git either: fleet sends its services from examples/), then run
the real `fleet deploy --hosts all` and `fleet status` against it. The lab stays up until
`down`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.lab.docker import REPO, ensure_busybox_image, ensure_docker, remove_compose_projects
from tests.lab.hosts import Lab

EXAMPLE = REPO / "examples" / "homelab.yml"
EXAMPLE_SERVICES = REPO / "examples" / "services"
DEMO_SUBNET = "127.0.2"


def _git(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_origin(workdir: Path) -> Path:
    """A bare git repository holding the example services: the homelab's repo."""
    seed = workdir / "origin-src"
    shutil.rmtree(seed, ignore_errors=True)
    shutil.copytree(EXAMPLE_SERVICES, seed / "services")
    ident = ["-c", "user.name=fleet demo", "-c", "user.email=demo@fleet.invalid"]
    _git("init", "-q", "-b", "main", cwd=seed)
    _git("add", "-A", cwd=seed)
    _git(*ident, "commit", "-q", "-m", "homelab services", cwd=seed)
    origin = workdir / "origin.git"
    shutil.rmtree(origin, ignore_errors=True)
    _git("clone", "-q", "--bare", str(seed), str(origin))
    return origin


def checkout_repo(lab: Lab, name: str, origin: Path) -> None:
    """A git host's R/repo is a clone of the origin."""
    repo = lab.hosts[name].root_dir / "repo"
    shutil.rmtree(repo, ignore_errors=True)
    _git("clone", "-q", str(origin), str(repo))


def lab_inventory(lab: Lab, example: dict[str, Any]) -> dict[str, Any]:
    """The example inventory with the lab's addresses, key and known_hosts."""
    data = json.loads(json.dumps(example))  # a deep copy
    for name, host in data["hosts"].items():
        host["address"] = lab.hosts[name].address
        host["port"] = lab.hosts[name].port
    defaults = data.setdefault("defaults", {})
    defaults.update(user="root", identity=str(lab.key), known_hosts=str(lab.known_hosts))
    return data


def fleet(*args: str) -> int:
    return subprocess.run([sys.executable, "-m", "controller", *args]).returncode


def demo(workdir: Path) -> int:
    down(workdir)
    ensure_docker()
    ensure_busybox_image()
    example = yaml.safe_load(EXAMPLE.read_text())
    lab = Lab(workdir, list(example["hosts"]), subnet=DEMO_SUBNET)
    pushed = [name for name, host in example["hosts"].items() if host.get("source") == "push"]
    for name in pushed:
        lab.hosts[name].no_git = True  # a push host needs no git: show it
    lab.start()
    origin = make_origin(lab.workdir)
    for name in lab.hosts:
        if name not in pushed:
            checkout_repo(lab, name, origin)
    for service in EXAMPLE_SERVICES.iterdir():
        lab.track_project(service.name)
    lab.save_state()
    inventory = lab.workdir / "inventory.yml"
    inventory.write_text(yaml.safe_dump(lab_inventory(lab, example), sort_keys=False))
    # services/ beside the lab's inventory, as beside the example: a push host's services
    # come from the inventory's folder, so the commands printed below work without --repo.
    shutil.rmtree(lab.workdir / "services", ignore_errors=True)
    shutil.copytree(EXAMPLE_SERVICES, lab.workdir / "services")
    print(f"lab: {len(lab.hosts)} sshd hosts on {DEMO_SUBNET}.x, inventory {inventory}\n")
    page = lab.workdir / "report.html"
    deployed = fleet("deploy", "-i", str(inventory), "--hosts", "all", "--html", str(page))
    print()
    fleet("status", "-i", str(inventory))
    print(f"\nThe run as a page (a timeline per host): {page}")
    print(f"The lab stays up: try `.venv/bin/fleet plan -i {inventory}` (or deploy, status).")
    print("`make demo-down` stops it and removes its containers.")
    return deployed


def down(workdir: Path) -> int:
    state_file = workdir / "lab.json"
    if not state_file.exists():
        return 0
    state = json.loads(state_file.read_text())
    lab = Lab(workdir, list(state["hosts"]), subnet=DEMO_SUBNET)
    lab.stop()
    remove_compose_projects(state.get("projects", []))
    state_file.unlink()
    print(f"lab in {workdir} stopped, its containers removed")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab")
    parser.add_argument("command", choices=["demo", "down"])
    parser.add_argument("--dir", default=".lab", type=Path, help="the lab's folder")
    args = parser.parse_args()
    if args.command == "demo":
        return demo(args.dir)
    return down(args.dir)


if __name__ == "__main__":
    sys.exit(main())
