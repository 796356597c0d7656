"""Where a host's CPU goes in one fleet run: `python -m tests.bench.hostcpu`.

The benchmark is CPU-bound on a 2-core machine, so fleet's wall time follows the CPU each
host spends. This runs the runner locally (the overhead workload: 2 services, compose is
/bin/true, healthchecks exit 0) and its parts in isolation, and prints the machine-wide
CPU (/proc/stat) each costs, averaged over --runs: run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from remote.build import build_runner

PYTHON = ["/usr/bin/python3", "-I", "-S"]


def machine_cpu_s() -> float:
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _, _, irq, softirq = ticks[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def make_root(root: Path) -> Path:
    """A host root with the overhead workload and the runner; returns the archive."""
    for svc in ("a", "b"):
        service = root / "repo" / "services" / svc
        service.mkdir(parents=True)
        (service / "compose.yaml").write_text("services: {}\n")
        (service / "healthcheck.sh").write_text("exit 0\n")
    plan = {
        "version": 1, "host": "probe", "run_id": "20260101T000000Z-000000",
        "root": str(root), "repo": str(root / "repo"), "services": ["a", "b"],
        "compose_command": ["/bin/true"],
    }  # fmt: skip
    (root / ".fleet").mkdir()
    (root / ".fleet" / "plan.json").write_text(json.dumps(plan))
    archive = root / ".fleet" / "fleet-runner.pyz"
    archive.write_bytes(build_runner()[0])
    return archive


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.hostcpu")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "R"
        archive = str(make_root(root))
        unpacked = archive[: -len(".pyz")] + ".d"
        imports = (
            f"import sys; sys.path.insert(0, {unpacked!r}); import remote.run.driver, remote.cli"
        )
        spawns = (
            f"import sys; sys.path.insert(0, {unpacked!r}); from remote.kit import procs\n"
            "for _ in range(6): procs.run(['/bin/true'], 10)"
        )
        subprocess.run([*PYTHON, archive, "status"], env=env, capture_output=True)  # unpacks
        main = f"{unpacked}/__main__.py"  # what the controller runs once the archive is unpacked
        probes = {
            "runner run (whole host side)": [*PYTHON, main, "--root", str(root)],
            "runner status": [*PYTHON, main, "status", "--root", str(root)],
            "python start": [*PYTHON, "-c", "pass"],
            "python start + runner imports": [*PYTHON, "-c", imports],
            "python start + 6 spawns (remote.kit.procs)": [*PYTHON, "-c", spawns],
            "sh with the floor's commands": [
                "sh",
                "-c",
                "for i in 1 2 3 4 5 6; do /bin/true; done",
            ],
        }
        subprocess.run(probes["runner run (whole host side)"], env=env, capture_output=True)
        for label, argv in probes.items():
            before = machine_cpu_s()
            for _ in range(args.runs):
                shutil.rmtree(root / "state", ignore_errors=True)
                subprocess.run(argv, env=env, capture_output=True)
            spent = (machine_cpu_s() - before) / args.runs * 1000
            print(f"{label:38s} {spent:6.1f} ms CPU")


if __name__ == "__main__":
    main()
