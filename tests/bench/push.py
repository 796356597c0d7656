"""Bench figure for `source: push`: what an unchanged push costs each host.

Run last by `python -m tests.bench` (it turns the lab hosts' repos into pushed
revisions); separate from the timing rows on purpose.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from tests.bench.__main__ import Bench


def push_figures(bench: Bench, n: int) -> dict[str, Any]:
    """Deploy n hosts with source: push twice; the second (unchanged) push's bytes per
    host: file contents sent (from the controller's record) and all bytes on the wire."""
    names = list(bench.lab.hosts)[:n]
    data = yaml.safe_load(bench.inventory(n, "ovh", "/bin/true").read_text())
    data["defaults"]["source"] = "push"
    inventory = bench.workdir / f"inventory-push-{n}.yml"
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    repo = bench.workdir / "push-repo"
    for name in names:
        for svc in data["hosts"][name]["services"]:
            source = bench.lab.hosts[name].root_dir / "repo" / "services" / svc
            shutil.copytree(source, repo / "services" / svc, dirs_exist_ok=True)
    argv = [sys.executable, "-m", "controller", "deploy", "-i", str(inventory), "--json",
            "--repo", str(repo), "--concurrency", str(n)]  # fmt: skip
    first, _ = _push_bytes(bench, argv)
    bench.counters.zero()
    second, payload = _push_bytes(bench, argv)
    wire = bench.counters.read()
    return {
        "hosts": n,
        "first_push_file_bytes_per_host": first / n,
        "unchanged_push_file_bytes_per_host": second / n,
        "unchanged_push_payload_bytes_per_host": payload / n,
        "unchanged_push_wire_sent_per_host": wire.sent / n,
        "unchanged_push_wire_received_per_host": wire.received / n,
    }


def _push_bytes(bench: Bench, argv: list[str]) -> tuple[int, int]:
    """File bytes and whole push payload (manifest included) over all hosts of a run."""
    proc = subprocess.run(argv, capture_output=True, text=True, env=bench.env, timeout=600)
    run_id = json.loads(proc.stdout)["run_id"]
    meta_path = bench.workdir / "state" / "fleet" / "runs" / run_id / "meta.json"
    meta = json.loads(meta_path.read_text())
    pushes = [h.get("push", {}) for h in meta["hosts"].values()]
    return (
        sum(int(p.get("bytes_sent", 0)) for p in pushes),
        sum(int(p.get("payload_bytes", 0)) for p in pushes),
    )
