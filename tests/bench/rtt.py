"""Round trips on the slow link: fleet's everyday commands against plain OpenSSH.

One host behind a 300 ms, 1 Mbit/s link proxy (slowlink.py), its one busybox service
already up: `fleet status` against `ssh host cat` of the state file, a redeploy with
nothing to do against `ssh host docker compose ... up -d --wait`, the controller's start
included in both. The proxy counts the exchanges of each. And `fleet outdated` on that
host, its image on the lab's registry: the bytes it exchanges through the proxy.
"""

from __future__ import annotations

import shlex
import statistics
from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING

from tests.bench.slowlink import BENCH_SUBNET, proxied_inventory, slow_proxies
from tests.bench.workload import _ssh_argv, add_shape, floor_command
from tests.lab import BUSYBOX_IMAGE, busybox_compose
from tests.lab.docker import remove_compose_projects
from tests.lab.proxy import LinkProxy, free_address
from tests.lab.registry import Registry

if TYPE_CHECKING:
    from tests.bench.__main__ import Bench, Row, Sample

TARGET = 0.9  # issue 33: each at most 0.9 x plain OpenSSH over the same link
FRESH_TRIPS = 7  # issue 33: a fresh deploy in at most 7 round trips per host
STATE_FILE = "/opt/homelab/state/deploy/summary.json"  # what `fleet status` reads


def rtt_rows(bench: Bench) -> list[Row]:
    """`slow status 1x1 vs ssh cat`, `slow unchanged 1x1 vs ssh up`, `outdated 1x1`."""
    shape = add_shape(bench, 1, 1)
    name, svcs = next(iter(shape.projects.items()))
    with ExitStack() as stack:
        proxy = slow_proxies(bench, stack, [name])[name]
        via = (proxy.listen_address, proxy.port)
        inventory = str(proxied_inventory(shape, {name: via}))
        rows = [
            _against_ssh(bench, proxy, "slow status 1x1 vs ssh cat", ["status", "-i", inventory],
                         f"cat {shlex.quote(STATE_FILE)}"),
            _against_ssh(bench, proxy, "slow unchanged 1x1 vs ssh up",
                         ["deploy", "-i", inventory], floor_command(svcs)),
            _outdated_row(bench, proxy, stack, inventory, (name, svcs[0])),
        ]  # fmt: skip
    remove_compose_projects(svcs)
    return rows


def _counting(proxy: LinkProxy, trips: list[int], run: Callable[[], Sample]) -> Sample:
    before = proxy.round_trips
    sample = run()
    trips.append(proxy.round_trips - before)
    return sample


def _against_ssh(
    bench: Bench, proxy: LinkProxy, workload: str, fleet_args: list[str], command: str
) -> Row:
    """fleet (its services up, the runner in place) against one plain `ssh` of `command`."""
    from tests.bench.__main__ import measure, timed_row

    fleet = bench.fleet(*fleet_args, "--json")
    ssh = _ssh_argv(bench, proxy.listen_address, proxy.port, command)
    measure(bench.fleet("deploy", *fleet_args[1:], "--json"), bench.env)  # runner, services up
    fleet_trips: list[int] = []
    ssh_trips: list[int] = []
    fleet_runs, ssh_runs = bench.alternate(
        lambda: _counting(proxy, fleet_trips, lambda: measure(fleet, bench.env)),
        lambda: _counting(proxy, ssh_trips, lambda: measure(ssh, bench.env)),
    )
    row = timed_row(workload, 1, fleet_runs, ssh_runs)
    row.round_trips_fleet = statistics.median(fleet_trips)
    row.round_trips_floor = statistics.median(ssh_trips)
    row.cpu_ms_per_host = 1000 * statistics.median(s.cpu_s for s in fleet_runs)
    return row


def _outdated_row(
    bench: Bench, proxy: LinkProxy, stack: ExitStack, inventory: str, service: tuple[str, str]
) -> Row:
    """`fleet outdated` (floor: `fleet status`) with the bytes it moved over the link."""
    from tests.bench.__main__ import measure, timed_row

    registry = Registry(bench.workdir / "registry", free_address(BENCH_SUBNET, 6))
    stack.callback(registry.close)
    registry.start()
    stack.callback(remove_compose_projects, [service[1]])  # before the registry's images go
    image = registry.push(BUSYBOX_IMAGE, "bench/app:1.0.0")
    compose = busybox_compose(image=image).replace("    pull_policy: never\n", "")
    bench.lab.add_service(*service, compose)
    measure(bench.fleet("deploy", "-i", inventory, "--json"), bench.env)
    outdated = bench.fleet("outdated", "-i", inventory, "--json")
    status = bench.fleet("status", "-i", inventory, "--json")
    up, down = proxy.bytes_up, proxy.bytes_down
    probe = measure(outdated, bench.env, expect=(0, 1))
    sent, received = proxy.bytes_up - up, proxy.bytes_down - down
    fleet_runs, floor_runs = bench.alternate(
        lambda: measure(outdated, bench.env, expect=(0, 1)), lambda: measure(status, bench.env)
    )
    row = timed_row("outdated 1x1 (floor = fleet status)", 1, [probe, *fleet_runs], floor_runs)
    row.sent_per_host, row.received_per_host = float(sent), float(received)
    return row


def rtt_verdicts(rows: list[Row]) -> list[tuple[str, bool, str]]:
    """Issue 33's targets over the rows this run measured."""
    checks = []
    for row in rows:
        trips = row.round_trips_fleet
        if row.workload.startswith("slow link ") and trips is not None:
            what = f"{row.workload}: fresh deploy <= {FRESH_TRIPS} round trips/host"
            checks.append((what, trips <= FRESH_TRIPS, f"{trips:.0f}"))
        if row.workload.startswith("slow ") and " vs " in row.workload:
            if "vs ansible" in row.workload:
                continue
            what = f"{row.workload.split(' (')[0]}: fleet/floor <= {TARGET}"
            checks.append((what, row.ratio <= TARGET, f"{row.ratio:.2f}"))
    return checks
