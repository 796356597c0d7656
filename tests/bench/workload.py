"""The real workload against the fair floor: what a careful operator would script by hand.

The floor is one OpenSSH `ssh` per host, all hosts at once, that runs
`docker compose -p S -f F up -d --wait` for each of the host's services in order: it
deploys and waits for health, as fleet does, with nothing else (no state, no report).
Rows: 1 host x 1 service, 1 x 10 and 10 x 3, each fresh (no containers yet) and
unchanged (a redeploy with nothing to do).
"""

from __future__ import annotations

import shlex
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from tests.bench.hostcpu import machine_cpu_s
from tests.lab import busybox_compose
from tests.lab.docker import remove_compose_projects

if TYPE_CHECKING:
    from tests.bench.__main__ import Bench, Row, Sample

# (hosts, services per host): the shapes issue 19 names.
SHAPES = ((1, 1), (1, 10), (10, 3))
TARGET = 1.10


@dataclass(frozen=True)
class Shape:
    """One real-workload shape: its hosts, their services and the inventory naming them."""

    hosts: int
    services: int
    inventory: Path
    projects: dict[str, list[str]]  # host -> its services, in deploy order

    @property
    def label(self) -> str:
        return f"{self.hosts}x{self.services}"


def add_shape(bench: Bench, hosts: int, services: int) -> Shape:
    """Put `services` busybox services (1 s healthcheck interval) on the first `hosts` hosts."""
    names = list(bench.lab.hosts)[:hosts]
    projects = {
        name: [f"rw{hosts}x{services}-{name}-{i}" for i in range(services)] for name in names
    }
    for name, svcs in projects.items():
        for svc in svcs:
            bench.lab.add_service(name, svc, busybox_compose())
    data = bench.lab.inventory_data()
    data["hosts"] = {name: {**data["hosts"][name], "services": projects[name]} for name in names}
    path = bench.workdir / f"inventory-rw-{hosts}x{services}.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return Shape(hosts, services, path, projects)


def _ssh_argv(bench: Bench, address: str, port: int, command: str) -> list[str]:
    lab = bench.lab
    return [
        "ssh", "-q", "-T", "-p", str(port), "-i", str(lab.key), "-o", "BatchMode=yes",
        "-o", f"UserKnownHostsFile={lab.known_hosts}", "-o", "StrictHostKeyChecking=yes",
        f"root@{address}", command,
    ]  # fmt: skip


def floor_command(services: list[str]) -> str:
    """The script a careful operator would write: each service up and healthy, in order."""
    root = "/opt/homelab/repo/services"
    return " && ".join(
        f"docker compose -p {shlex.quote(s)} -f {shlex.quote(f'{root}/{s}/compose.yaml')} "
        "up -d --wait --remove-orphans"
        for s in services
    )


def run_floor(bench: Bench, shape: Shape, via: dict[str, tuple[str, int]] | None = None) -> Sample:
    """Every host's ssh at once (through `via`'s address and port where given: a link
    proxy); the wall time of the slowest, the machine's CPU meanwhile."""
    from tests.bench.__main__ import Sample

    def one(host: str) -> int:
        address, port = (via or {}).get(host, (bench.lab.hosts[host].address, 22))
        command = floor_command(shape.projects[host])
        argv = _ssh_argv(bench, address, port, command)
        return subprocess.run(argv, capture_output=True, timeout=600).returncode

    cpu_before = machine_cpu_s()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(shape.projects)) as pool:
        codes = list(pool.map(one, shape.projects))
    wall = time.perf_counter() - start
    code = max(codes)
    return Sample(wall, 0.0, 0.0, code, machine_cpu_s() - cpu_before)


def real_rows(bench: Bench) -> list[Row]:
    """Fresh and unchanged rows for every shape, fleet and floor interleaved."""
    from tests.bench.__main__ import measure, timed_row

    rows = []
    for hosts, services in SHAPES:
        shape = add_shape(bench, hosts, services)
        every = [p for svcs in shape.projects.values() for p in svcs]
        deploy = bench.fleet("deploy", "-i", str(shape.inventory), "--hosts", "all", "--json")

        def fleet_fresh(deploy: list[str] = deploy, every: list[str] = every) -> Sample:
            remove_compose_projects(every)
            return measure(deploy, bench.env)

        def floor_fresh(shape: Shape = shape, every: list[str] = every) -> Sample:
            remove_compose_projects(every)
            return run_floor(bench, shape)

        fleet_runs, floor_runs = bench.alternate(fleet_fresh, floor_fresh)
        rows.append(timed_row(f"real fresh {shape.label}", hosts, fleet_runs, floor_runs))
        # Unchanged: everything already up and healthy (the last fresh run left it so).
        measure(deploy, bench.env)
        fleet_runs, floor_runs = bench.alternate(
            lambda deploy=deploy: measure(deploy, bench.env),
            lambda shape=shape: run_floor(bench, shape),
        )
        rows.append(timed_row(f"real unchanged {shape.label}", hosts, fleet_runs, floor_runs))
        remove_compose_projects(every)
    return rows


def real_verdicts(rows: list[Row]) -> list[tuple[str, bool, str]]:
    """fleet / floor <= 1.10 in every real-workload row, over a fast link or a slow one."""
    return [
        (f"{row.workload}: fleet/floor <= {TARGET}", row.ratio <= TARGET, f"{row.ratio:.2f}")
        for row in rows
        if row.workload.startswith(("real ", "slow link"))
    ]
