"""`make bench`: fleet on the local lab against the asyncssh floor, in one run.

Prints a table and writes bench-results/bench.json. Every figure is measured here, in this
run, on this machine: read ratios (fleet / floor), not absolute seconds, across machines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from tests.bench import rtt, slowlink, workload
from tests.bench.counters import WireCounters
from tests.bench.hostcpu import machine_cpu_s
from tests.bench.push import push_figures
from tests.lab import Lab, busybox_compose, ensure_busybox_image, ensure_docker
from tests.lab.docker import REPO

BENCH_SUBNET = "127.0.3"
RESULTS = REPO / "bench-results"
NOOP_HEALTHCHECK = "#!/bin/sh\nexit 0\n"
PLAN_WORKLOAD = "plan (floor = fleet status)"
GROUPS = ("overhead", "status", "plan", "check", "real", "slow", "push")


@dataclass
class Sample:
    """One process run: wall time, its CPU (user+sys), peak RSS, exit code, and the CPU the
    whole machine spent meanwhile (/proc/stat: the lab's sshd and runners share its cores)."""

    wall_s: float
    cpu_s: float
    rss_mb: float
    code: int
    machine_cpu_s: float


@dataclass
class Row:
    """One line of the table: a workload at N hosts."""

    workload: str
    hosts: int
    fleet_s: float
    floor_s: float
    fleet_runs: list[float] = field(default_factory=list)
    floor_runs: list[float] = field(default_factory=list)
    cpu_s: float | None = None  # the controller's user+sys CPU for the whole run (median)
    cpu_ms_per_host: float | None = None
    rss_mb: float | None = None
    sent_per_host: float | None = None
    received_per_host: float | None = None
    connections_per_host: float | None = None
    runner_bytes_first: int | None = None
    runner_bytes_second: int | None = None
    # Machine-wide CPU (controller, sshd, runners, compose) per host, median over the timed runs
    machine_ms_per_host_fleet: float | None = None
    machine_ms_per_host_floor: float | None = None
    # Slow-link rows: exchanges per host through the link proxy (tests/lab/proxy.py)
    round_trips_fleet: float | None = None
    round_trips_floor: float | None = None

    @property
    def ratio(self) -> float:
        return self.fleet_s / self.floor_s

    @property
    def machine_cpu_ratio(self) -> float | None:
        fleet, floor = self.machine_ms_per_host_fleet, self.machine_ms_per_host_floor
        return None if fleet is None or not floor else fleet / floor


# A command the bench times that has not ended by then is killed (with its children) and
# counted as failed: the slowest one here (the careful floor, 1x10) takes about 20 s.
MEASURE_TIMEOUT_S = 600.0


def measure(argv: list[str], env: dict[str, str], expect: tuple[int, ...] = (0,)) -> Sample:
    """Run a command to its end; wall clock, its own rusage (os.wait4) and the machine's CPU.
    Its stderr goes to a file (a pipe nobody reads until the end would stall a chatty
    command), and it is killed at MEASURE_TIMEOUT_S."""
    with tempfile.TemporaryFile() as err:
        cpu_before = machine_cpu_s()
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
        killer = threading.Timer(MEASURE_TIMEOUT_S, _kill_group, (proc.pid,))
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - start
        machine = machine_cpu_s() - cpu_before
        code = os.waitstatus_to_exitcode(status)
        if code not in expect:
            err.seek(0)
            said = err.read().decode(errors="replace")[-2000:]
            late = f" (killed after {MEASURE_TIMEOUT_S:.0f} s)" if wall >= MEASURE_TIMEOUT_S else ""
            print(f"warning: {' '.join(argv[:4])}... exited {code}{late}: {said}", file=sys.stderr)
    cpu = usage.ru_utime + usage.ru_stime
    return Sample(wall, cpu, usage.ru_maxrss / 1024, code, machine)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


class Bench:
    """The lab, the inventories and the commands under test."""

    def __init__(self, workdir: Path, max_hosts: int, runs: int) -> None:
        self.workdir = workdir
        self.runs = runs
        names = [f"b{i:03d}" for i in range(max_hosts)]
        self.lab = Lab(workdir / "lab", names, subnet=BENCH_SUBNET)
        # Without PYTHONDONTWRITEBYTECODE (set on this kind of machine): an installed fleet
        # has its bytecode (pip compiles it), so the first run writes it and the timed ones
        # read it, instead of compiling the controller at every start (~150 ms).
        inherited = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env = {**inherited, "XDG_STATE_HOME": str(workdir / "state"), "NO_COLOR": "1"}
        self.counters = WireCounters([h.address for h in self.lab.hosts.values()])

    def fleet(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "controller", *args]

    def floor(self, inventory: Path, mode: str) -> list[str]:
        return [sys.executable, "-m", "tests.bench.floor", str(inventory), mode]

    def inventory(self, n: int, tag: str, compose_command: str | None) -> Path:
        names = list(self.lab.hosts)[:n]
        data = self.lab.inventory_data()
        data["hosts"] = {name: data["hosts"][name] for name in names}
        for name in names:
            data["hosts"][name]["services"] = [f"{tag}-{name}-a", f"{tag}-{name}-b"]
        if compose_command:
            data["defaults"]["compose_command"] = compose_command
        path = self.workdir / f"inventory-{tag}-{n}.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def add_services(self, n: int, tag: str, compose: str, healthcheck: str | None) -> None:
        for name in list(self.lab.hosts)[:n]:
            for suffix in ("a", "b"):
                self.lab.add_service(name, f"{tag}-{name}-{suffix}", compose, healthcheck)

    def forget_runner(self, n: int) -> None:
        for host in list(self.lab.hosts.values())[:n]:
            shutil.rmtree(host.root_dir / ".fleet", ignore_errors=True)

    def runner_files(self, n: int) -> dict[Path, tuple[int, int]]:
        """Runner archives on the first n hosts: path -> (size, inode change time)."""
        found = {}
        for host in list(self.lab.hosts.values())[:n]:
            for archive in (host.root_dir / ".fleet").glob("fleet-runner-*.pyz"):
                info = archive.stat()
                found[archive] = (info.st_size, info.st_ctime_ns)
        return found

    def alternate(
        self, first: Callable[[], Sample], second: Callable[[], Sample]
    ) -> tuple[list[Sample], list[Sample]]:
        """Interleave the two commands so machine noise hits both alike."""
        a, b = [], []
        for _ in range(self.runs):
            a.append(first())
            b.append(second())
        return a, b


def timed_row(workload: str, n: int, fleet_runs: list[Sample], floor_runs: list[Sample]) -> Row:
    """The medians and the runs themselves; callers add what else they measured."""
    return Row(
        workload=workload,
        hosts=n,
        fleet_s=statistics.median(s.wall_s for s in fleet_runs),
        floor_s=statistics.median(s.wall_s for s in floor_runs),
        fleet_runs=[round(s.wall_s, 3) for s in fleet_runs],
        floor_runs=[round(s.wall_s, 3) for s in floor_runs],
        machine_ms_per_host_fleet=1000 * statistics.median(s.machine_cpu_s for s in fleet_runs) / n,
        machine_ms_per_host_floor=1000 * statistics.median(s.machine_cpu_s for s in floor_runs) / n,
    )


def overhead_row(bench: Bench, n: int) -> Row:
    """fleet's own cost: every stage runs, compose is /bin/true, healthchecks exit 0."""
    inventory = bench.inventory(n, "ovh", "/bin/true")
    deploy = bench.fleet("deploy", "-i", str(inventory), "--hosts", "all", "--json",
                         "--concurrency", str(max(n, 1)))  # fmt: skip
    bench.forget_runner(n)
    first = measure(deploy, bench.env)
    after_first = bench.runner_files(n)
    bench.counters.zero()
    second = measure(deploy, bench.env)
    second_wire = bench.counters.read()
    after_second = bench.runner_files(n)
    fleet_runs, floor_runs = bench.alternate(
        lambda: measure(deploy, bench.env),
        lambda: measure(bench.floor(inventory, "deploy"), bench.env),
    )
    row = timed_row("overhead", n, fleet_runs, floor_runs)
    row.cpu_s = statistics.median(s.cpu_s for s in [second, *fleet_runs])
    row.cpu_ms_per_host = 1000 * row.cpu_s / n
    row.rss_mb = max(s.rss_mb for s in [first, second, *fleet_runs])
    row.sent_per_host = second_wire.sent / n
    row.received_per_host = second_wire.received / n
    row.connections_per_host = second_wire.connections / n
    row.runner_bytes_first = sum(size for size, _ in after_first.values()) // n
    changed = [
        size for path, (size, t) in after_second.items() if after_first.get(path) != (size, t)
    ]
    row.runner_bytes_second = sum(changed) // n
    return row


def status_row(bench: Bench, n: int) -> Row:
    """`fleet status` against the floor of one command per host."""
    inventory = bench.inventory(n, "ovh", "/bin/true")
    status = bench.fleet("status", "-i", str(inventory), "--hosts", "all", "--json",
                         "--concurrency", str(max(n, 1)))  # fmt: skip
    bench.counters.zero()
    probe = measure(status, bench.env)
    wire = bench.counters.read()
    fleet_runs, floor_runs = bench.alternate(
        lambda: measure(status, bench.env),
        lambda: measure(bench.floor(inventory, "status"), bench.env),
    )
    row = timed_row("status", n, fleet_runs, floor_runs)
    row.cpu_s = statistics.median(s.cpu_s for s in fleet_runs)
    row.cpu_ms_per_host = 1000 * row.cpu_s / n
    row.rss_mb = max(s.rss_mb for s in [probe, *fleet_runs])
    row.connections_per_host = wire.connections / n
    return row


def plan_row(bench: Bench, n: int) -> Row:
    """`fleet plan` against `fleet status` over the same hosts (the floor here is status).
    compose is /bin/true: the plan says `create` everywhere (exit 1), at fleet's own cost."""
    inventory = bench.inventory(n, "ovh", "/bin/true")
    common = ["-i", str(inventory), "--hosts", "all", "--json", "--concurrency", str(max(n, 1))]
    plan, status = bench.fleet("plan", *common), bench.fleet("status", *common)
    bench.counters.zero()
    probe = measure(plan, bench.env, expect=(1,))  # uploads the runner where it is missing
    wire = bench.counters.read()
    fleet_runs, floor_runs = bench.alternate(
        lambda: measure(plan, bench.env, expect=(1,)), lambda: measure(status, bench.env)
    )
    row = timed_row(PLAN_WORKLOAD, n, fleet_runs, floor_runs)
    row.cpu_s = statistics.median(s.cpu_s for s in fleet_runs)
    row.cpu_ms_per_host = 1000 * row.cpu_s / n
    row.rss_mb = max(s.rss_mb for s in [probe, *fleet_runs])
    row.connections_per_host = wire.connections / n
    return row


def check_row(bench: Bench, n: int) -> Row:
    """`fleet check` against `fleet status` over the same hosts (target: <= 1.5 x).

    The hosts keep the real `docker compose`: check asks Docker and compose for their
    versions, and that is what an operator's check costs."""
    inventory = bench.inventory(n, "ovh", None)
    concurrency = ["--concurrency", str(max(n, 1))]
    check = bench.fleet("check", "-i", str(inventory), "--hosts", "all", "--json", *concurrency)
    status = bench.fleet("status", "-i", str(inventory), "--hosts", "all", "--json", *concurrency)
    bench.counters.zero()
    probe = measure(check, bench.env)
    wire = bench.counters.read()
    fleet_runs, floor_runs = bench.alternate(
        lambda: measure(check, bench.env), lambda: measure(status, bench.env)
    )
    row = timed_row("check vs status", n, fleet_runs, floor_runs)
    row.cpu_s = statistics.median(s.cpu_s for s in fleet_runs)
    row.cpu_ms_per_host = 1000 * row.cpu_s / n
    row.rss_mb = max(s.rss_mb for s in [probe, *fleet_runs])
    row.connections_per_host = wire.connections / n
    return row


def compare_rows(bench: Bench, sizes: list[int], fleet_times: dict[int, float]) -> list[Row]:
    """pyinfra and Ansible on the overhead workload, once per N (they take a while)."""
    from tests.bench import compare

    bin_dir = compare.ensure_tools()
    env = compare.tool_env(bench.env, bench.workdir)
    rows = []
    for n in sizes:
        inventory = bench.inventory(n, "ovh", "/bin/true")
        fleet = fleet_times.get(n)
        if fleet is None:
            argv = bench.fleet("deploy", "-i", str(inventory), "--hosts", "all", "--json",
                               "--concurrency", str(n))  # fmt: skip
            fleet = measure(argv, bench.env).wall_s
        targets, login = compare.stage_targets(inventory)
        for tool, build in compare.TOOL_ARGV.items():
            sample = measure(build(bin_dir, targets, login, bench.workdir), env)
            if sample.code != 0:
                continue
            workload = f"vs {tool} (floor = {tool})"
            runs = [round(sample.wall_s, 3)]
            rows.append(Row(workload, n, fleet_s=fleet, floor_s=sample.wall_s, floor_runs=runs))
    return rows


def render(rows: list[Row], console: Console) -> None:
    table = Table(
        title="fleet benchmark (median wall time; ratio = fleet / floor; ctl = the controller "
        "process, machine = all CPU on the machine: controller, sshd, runners)"
    )
    for column in ("workload", "N", "fleet s", "floor s", "ratio", "T(N)/T(1)\nfleet",
                   "T(N)/T(1)\nfloor", "ctl CPU\ns", "ctl CPU\nms/host",
                   "machine CPU\nms/host\nfleet | floor", "machine\nCPU ratio", "RSS\nMB",
                   "sent\nB/host", "recv\nB/host", "conns\n/host",
                   "runner B\n1st/2nd", "round trips\n/host\nfleet | floor"):  # fmt: skip
        table.add_column(column, justify="right" if column != "workload" else "left")
    base: dict[str, Row] = {}
    for row in rows:
        one = base.setdefault(row.workload, row)
        runner = "" if row.runner_bytes_first is None else f"{row.runner_bytes_first}"
        runner += "" if row.runner_bytes_second is None else f"/{row.runner_bytes_second}"
        machine = _fmt(row.machine_ms_per_host_fleet, "{:.0f}")
        machine += _fmt(row.machine_ms_per_host_floor, " | {:.0f}")
        table.add_row(
            row.workload, str(row.hosts), f"{row.fleet_s:.2f}", f"{row.floor_s:.2f}",
            f"{row.ratio:.2f}", f"{row.fleet_s / one.fleet_s:.2f}",
            f"{row.floor_s / one.floor_s:.2f}",
            _fmt(row.cpu_s, "{:.2f}"), _fmt(row.cpu_ms_per_host, "{:.1f}"),
            machine, _fmt(row.machine_cpu_ratio, "{:.2f}"), _fmt(row.rss_mb, "{:.0f}"),
            _fmt(row.sent_per_host, "{:.0f}"), _fmt(row.received_per_host, "{:.0f}"),
            _fmt(row.connections_per_host, "{:.2f}"),
            runner,
            _fmt(row.round_trips_fleet, "{:.0f}") + _fmt(row.round_trips_floor, " | {:.0f}"),
        )  # fmt: skip
    console.print(table)


def verdicts(rows: list[Row]) -> list[tuple[str, bool, str]]:
    """Each target of issue 7: (what, held, the figure)."""
    overhead = [r for r in rows if r.workload == "overhead"]
    checks = []
    for row in overhead:
        checks.append(
            (f"fleet/floor <= 1.2 at N={row.hosts} (1.5 acceptable)", row.ratio <= 1.2,
             f"{row.ratio:.2f}")
        )  # fmt: skip
    if overhead:
        largest = max(overhead, key=lambda r: r.hosts)
        cpu, rss = largest.cpu_ms_per_host or 0.0, largest.rss_mb or 0.0
        n = largest.hosts
        checks.append((f"controller CPU <= 25 ms/host at N={n}", cpu <= 25, f"{cpu:.1f}"))
        checks.append((f"peak RSS <= 150 MB at N={n}", rss <= 150, f"{rss:.0f}"))
    for row in overhead:
        conns = row.connections_per_host or 0.0
        checks.append((f"one SSH connection per host, N={row.hosts}", conns == 1.0, f"{conns:.2f}"))
        second = row.runner_bytes_second
        checks.append(
            (f"second run uploads 0 runner bytes, N={row.hosts}", second == 0, str(second))
        )
    for row in (r for r in rows if r.workload == "status"):
        checks.append(
            (f"status <= 1.5 x floor at N={row.hosts}", row.ratio <= 1.5, f"{row.ratio:.2f}")
        )
    for row in (r for r in rows if r.workload == "check vs status"):
        checks.append(
            (f"check <= 1.5 x status at N={row.hosts}", row.ratio <= 1.5, f"{row.ratio:.2f}")
        )
    for row in (r for r in rows if r.workload == PLAN_WORKLOAD):
        checks.append(
            (f"plan <= 1.5 x status at N={row.hosts}", row.ratio <= 1.5, f"{row.ratio:.2f}")
        )
    bars = {"pyinfra": 4.0, "ansible": 50.0}  # issue 7's orientation: what fleet should beat
    for row in (r for r in rows if r.workload.startswith("vs ")):
        tool = row.workload.split()[1]
        speedup = row.floor_s / row.fleet_s
        what = f"fleet {bars[tool]:.0f}x faster than {tool} at N={row.hosts}"
        checks.append((what, speedup >= bars[tool], f"{speedup:.1f}x"))
    return checks


def _fmt(value: float | None, spec: str) -> str:
    return "" if value is None else spec.format(value)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench")
    parser.add_argument("--hosts", default="1,10,50,100", help="the N to measure")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per figure (median)")
    parser.add_argument(
        "--out", default="bench.json", help="the results file's name, in bench-results/"
    )
    parser.add_argument(
        "--no-real", action="store_true", help="skip the real workload (busybox services)"
    )
    parser.add_argument(
        "--compare", default="", help="N at which to run pyinfra and Ansible too, e.g. 1,10"
    )
    parser.add_argument(
        "--only",
        default=",".join(GROUPS),
        help=f"the row groups to measure, of {','.join(GROUPS)} (verdicts cover those)",
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    if not only <= set(GROUPS):
        parser.error(f"--only: unknown group {', '.join(sorted(only - set(GROUPS)))}")
    sizes = [int(n) for n in args.hosts.split(",")]
    real = not args.no_real and bool(only & {"real", "slow"})
    real_hosts = max(h for h, _ in workload.SHAPES) if real else 0
    compare_sizes = [int(n) for n in args.compare.split(",") if n]
    ensure_docker()
    ensure_busybox_image()
    console = Console(width=max(170, Console().width))
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        bench = Bench(Path(tmp), max([*sizes, real_hosts, *compare_sizes]), args.runs)
        bench.lab.start()
        try:
            bench.counters.install()
            bench.add_services(
                max(sizes + compare_sizes), "ovh", busybox_compose(), NOOP_HEALTHCHECK
            )
            rows = []
            for n in sizes if "overhead" in only else []:
                console.print(f"overhead workload, {n} hosts ...")
                rows.append(overhead_row(bench, n))
            if "status" in only:
                console.print(f"status, {max(sizes)} hosts ...")
                rows.append(status_row(bench, max(sizes)))
            if "plan" in only:
                console.print(f"plan, {max(sizes)} hosts ...")
                rows.append(plan_row(bench, max(sizes)))
            if "check" in only:
                console.print(f"check against status, {max(sizes)} hosts ...")
                rows.append(check_row(bench, max(sizes)))
            if real and "real" in only:
                console.print("real workload (1x1, 1x10, 10x3; fresh and unchanged) ...")
                rows += workload.real_rows(bench)
            if real and "slow" in only:
                console.print("real workload over a 300 ms, 1 Mbit/s link (1 and 10 hosts) ...")
                rows += slowlink.slow_rows(bench, compare=bool(compare_sizes))
                console.print("status, a no-op redeploy, outdated over that link (1 host) ...")
                rows += rtt.rtt_rows(bench)
            if compare_sizes:
                console.print(f"pyinfra and Ansible, {args.compare} hosts ...")
                fleet_times = {r.hosts: r.fleet_s for r in rows if r.workload == "overhead"}
                rows += compare_rows(bench, compare_sizes, fleet_times)
            push = None
            if "push" in only:
                console.print("source: push, unchanged tree ...")
                push = push_figures(bench, min(10, max(sizes)))
        finally:
            bench.counters.remove()
            bench.lab.stop()
    render(rows, console)
    checks = verdicts(rows) + workload.real_verdicts(rows) + rtt.rtt_verdicts(rows)
    for what, held, figure in checks:
        console.print(f"  {'ok  ' if held else 'MISS'} {what}: {figure}")
    if push is not None:
        console.print(f"  push, unchanged tree, per host: {push}")
    out = RESULTS / args.out
    results = {
        "machine": machine(),
        "rows": [
            asdict(r) | {"ratio": r.ratio, "machine_cpu_ratio": r.machine_cpu_ratio} for r in rows
        ],
        "targets": [{"target": w, "held": h, "figure": f} for w, h, f in checks],
        "push": push,
    }
    out.write_text(json.dumps(results, indent=2))
    console.print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
