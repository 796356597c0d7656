"""The real workload over CHELSTY's kind of link: 300 ms round trip, 1 Mbit/s.

Each host is reached through its own lab link proxy (tests/lab/proxy.py); fleet is timed
against the same careful-operator floor as the real workload (tests/bench/workload.py:
one ssh per host, `compose up -d --wait` per service), and the proxy counts the round
trips (exchanges) each of them makes per host. The runner is already on the hosts (a
warm-up run uploads it), as it is for every deploy but a host's first.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from tests.bench.compare import TOOL_ARGV, Login, Target, ensure_tools, tool_env
from tests.bench.workload import Shape, add_shape, floor_command, run_floor
from tests.lab.docker import remove_compose_projects
from tests.lab.proxy import LinkProxy, free_address, trust_proxy

BENCH_SUBNET = "127.0.3"  # tests.bench's lab; the proxies listen on 127.0.7.1

if TYPE_CHECKING:
    from tests.bench.__main__ import Bench, Row, Sample

RTT_S = 0.3
RATE_BYTES_S = 1_000_000 / 8
SIZES = (1, 10)


def slow_rows(bench: Bench, compare: bool = False) -> list[Row]:
    """Rows per size: fleet and the floor, fresh deploys, through the slow links; with
    `compare`, pyinfra and Ansible running the floor's commands through the same links."""
    bin_dir = ensure_tools() if compare else None
    return [row for n in SIZES for row in _slow_rows(bench, n, bin_dir)]


def _slow_rows(bench: Bench, n: int, tools_bin: Path | None) -> list[Row]:
    from tests.bench.__main__ import measure, timed_row

    shape = add_shape(bench, n, 1)
    every = [p for svcs in shape.projects.values() for p in svcs]
    with ExitStack() as stack:
        proxies = slow_proxies(bench, stack, list(shape.projects))
        via = {name: (p.listen_address, p.port) for name, p in proxies.items()}
        deploy = bench.fleet("deploy", "-i", str(proxied_inventory(shape, via)), "--json")
        measure(deploy, bench.env)  # the runner lands once, as on any host's first deploy
        trips: dict[str, list[float]] = {"fleet": [], "floor": []}

        def counted(which: str, run: Callable[[], Sample]) -> Sample:
            before = sum(p.round_trips for p in proxies.values())
            remove_compose_projects(every)
            sample = run()
            trips[which].append((sum(p.round_trips for p in proxies.values()) - before) / n)
            return sample

        fleet_runs, floor_runs = bench.alternate(
            lambda: counted("fleet", lambda: measure(deploy, bench.env)),
            lambda: counted("floor", lambda: run_floor(bench, shape, via)),
        )
        row = timed_row(f"slow link {n}x1", n, fleet_runs, floor_runs)
        row.round_trips_fleet = statistics.median(trips["fleet"])
        row.round_trips_floor = statistics.median(trips["floor"])
        rows = [row]
        if tools_bin is not None:
            for tool in TOOL_ARGV:
                # Interleaved with fleet's runs, as every other row: one sample of each,
                # minutes apart, moved the ratio by up to 0.13 between bench runs.
                trips[tool], trips["fleet"] = [], []
                fleet_runs, tool_runs = bench.alternate(
                    lambda: counted("fleet", lambda: measure(deploy, bench.env)),
                    lambda tool=tool: counted(
                        tool, lambda: _run_tool(bench, tool, tools_bin, shape, via)
                    ),
                )
                tool_row = timed_row(_tool_workload(n, tool, tool_runs), n, fleet_runs, tool_runs)
                tool_row.round_trips_fleet = statistics.median(trips["fleet"])
                tool_row.round_trips_floor = statistics.median(trips[tool])
                rows.append(tool_row)
    remove_compose_projects(every)
    return rows


def slow_proxies(bench: Bench, stack: ExitStack, names: list[str]) -> dict[str, LinkProxy]:
    """A 300 ms, 1 Mbit/s link proxy per host, trusted under its own name; closed by `stack`."""
    address = free_address(BENCH_SUBNET, 7)
    proxies = {}
    for name in names:
        host = bench.lab.hosts[name]
        proxy = stack.enter_context(
            LinkProxy(address, (host.address, 22), rtt_s=RTT_S, rate_bytes_s=RATE_BYTES_S)
        )
        trust_proxy(bench.lab.known_hosts, host, address, proxy.port)
        proxies[name] = proxy
    return proxies


def _run_tool(
    bench: Bench, tool: str, bin_dir: Path, shape: Shape, via: dict[str, tuple[str, int]]
) -> Sample:
    """One cold run of pyinfra or Ansible (a fresh work folder: no cache, no
    ControlMaster): the floor's command per host, through `via`."""
    from tests.bench.__main__ import measure

    lab = bench.lab
    login = Login("root", str(lab.key), str(lab.known_hosts))
    targets = {
        name: Target(*via[name], [floor_command(svcs)]) for name, svcs in shape.projects.items()
    }
    workdir = Path(tempfile.mkdtemp(prefix=f"{tool}-", dir=bench.workdir))
    return measure(TOOL_ARGV[tool](bin_dir, targets, login, workdir), tool_env(bench.env, workdir))


def _tool_workload(n: int, tool: str, runs: list[Sample]) -> str:
    failed = [s.code for s in runs if s.code != 0]
    return f"slow {n}x1 vs {tool} (floor = {tool})" + (
        f" FAILED (exit {failed[0]})" if failed else ""
    )


def proxied_inventory(shape: Shape, via: dict[str, tuple[str, int]]) -> Path:
    data = yaml.safe_load(shape.inventory.read_text())
    for name, (address, port) in via.items():
        data["hosts"][name].update(address=address, port=port)
    path = shape.inventory.with_name(f"inventory-slow-{shape.hosts}.yml")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
