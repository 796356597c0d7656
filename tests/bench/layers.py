"""What a host's sshd and everything under it spend per host: `python -m tests.bench.layers`.

The overhead rows are CPU-bound where the lab's hosts share the controller's cores, so
the host side decides them. This starts N lab hosts and, for each probe, runs it on all
of them at once, --runs times, and reads the CPU every sshd's finished children spent
(cutime + cstime of each host's sshd master: the session, the login shell, whatever it
ran, the runner's detached child, all waited for). Probes: fleet's deploy and the floor's
on the overhead workload, then one layer at a time over plain asyncssh connections.
Run it on an otherwise idle machine, not beside `make bench` (same addresses).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import asyncssh

from controller.transport.shell import PYTHON, under_sh
from tests.bench.__main__ import NOOP_HEALTHCHECK, Bench
from tests.lab import busybox_compose

TICKS = os.sysconf("SC_CLK_TCK")


def children_cpu_s(bench: Bench) -> float:
    """CPU of every sshd master's waited-for descendants, summed over the lab."""
    total = 0
    for host in bench.lab.hosts.values():
        fields = Path(f"/proc/{host.pid()}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[13]) + int(fields[14])  # cutime, cstime
    return total / TICKS


def ms_per_host(bench: Bench, n: int, runs: int, once: Callable[[], None]) -> float:
    before = children_cpu_s(bench)
    for _ in range(runs):
        once()
    time.sleep(0.5)  # the last sessions' sshd processes are reaped a moment after
    return (children_cpu_s(bench) - before) * 1000 / runs / n


async def _commands(bench: Bench, n: int, commands: list[str]) -> None:
    lab = bench.lab
    keys = asyncssh.load_keypairs([str(lab.key)])
    known = asyncssh.read_known_hosts(str(lab.known_hosts))

    async def one(address: str) -> None:
        async with asyncssh.connect(
            address, username="root", client_keys=keys, known_hosts=known
        ) as conn:
            for command in commands:
                await conn.run(command)

    hosts = list(lab.hosts.values())[:n]
    await asyncio.gather(*(one(h.address) for h in hosts))


def _over_asyncssh(bench: Bench, n: int, commands: list[str]) -> Callable[[], None]:
    return lambda: asyncio.run(_commands(bench, n, commands))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.layers")
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    n, runs = args.hosts, args.runs
    with tempfile.TemporaryDirectory(prefix="fleet-layers-") as tmp:
        bench = Bench(Path(tmp), n, runs)
        bench.lab.start()
        try:
            bench.add_services(n, "ovh", busybox_compose(), NOOP_HEALTHCHECK)
            inventory = bench.inventory(n, "ovh", "/bin/true")
            deploy = bench.fleet("deploy", "-i", str(inventory), "--hosts", "all", "--json",
                                 "--concurrency", str(n))  # fmt: skip
            floor = bench.floor(inventory, "deploy")
            subprocess.run(deploy, env=bench.env, capture_output=True)  # the runner lands
            python = " ".join(PYTHON)
            probes: dict[str, Callable[[], None]] = {
                "fleet deploy (overhead workload)": lambda: _quiet(deploy, bench.env),
                "floor deploy (5 sh -c)": lambda: _quiet(floor, bench.env),
            }
            layers = {
                "connect, authenticate, close": [],
                "+ one exec: true": ["true"],
                "+ one exec: true under /bin/sh (any login shell)": [under_sh("true")],
                f"+ one exec: {python} -c pass": [f"{python} -c pass"],
                f"+ one exec: {python} -c pass under /bin/sh": [under_sh(f"{python} -c pass")],
                "+ five execs: true (the floor's shape)": ["true"] * 5,
            }
            for label, commands in layers.items():
                probes[label] = _over_asyncssh(bench, n, commands)
            print(f"host-side CPU per host, {n} hosts at once, {runs} runs each")
            for label, once in probes.items():
                print(f"  {label:52s} {ms_per_host(bench, n, runs, once):6.1f} ms")
        finally:
            bench.lab.stop()
    return 0


def _quiet(argv: list[str], env: dict[str, str]) -> None:
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    sys.exit(main())
