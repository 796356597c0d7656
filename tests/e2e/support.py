"""Helpers for end-to-end tests that drive the real `fleet` CLI against the lab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from controller.options import ConnectOptions
from remote.run.runlog import parse_struct_line
from tests.lab import Lab
from tests.lab.procs import kill_tree

# A compose wrapper for the lab hosts: `up` of a project listed in /opt/homelab/slow/<name>
# first sleeps that many seconds, so a test can cut a link or kill a run mid-deploy.
SLOW_COMPOSE = """\
#!/bin/sh
project=$2
case " $* " in
  *" up "*) [ -f "/opt/homelab/slow/$project" ] && sleep "$(cat "/opt/homelab/slow/$project")" ;;
esac
exec docker compose "$@"
"""
SLOW_COMPOSE_PATH = "/opt/homelab/bin/slow-compose"

_KEEPALIVE = ConnectOptions()
# How long a silently dropped link takes to be seen as a drop. asyncssh's keepalive timer
# restarts on anything received and closes the connection when it fires with more than
# keepalive_count_max requests unanswered: 15 to 20 s after the link went (5 s x 3, x 4).
DROP_DETECTED_S = _KEEPALIVE.keepalive_interval * (_KEEPALIVE.keepalive_count_max + 1)

T = TypeVar("T")


@dataclass
class FleetResult:
    """One finished `fleet` invocation."""

    code: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def report(self) -> dict[str, Any]:
        return json.loads(self.stdout)  # type: ignore[no-any-return]

    def host(self, name: str) -> dict[str, Any]:
        return self.report["hosts"][name]  # type: ignore[no-any-return]


class Fleet:
    """Runs `python -m controller` with its own XDG state dir."""

    def __init__(self, state_dir: Path, inventory: Path | None = None) -> None:
        self.state_dir = state_dir
        self.inventory = inventory
        self.env = {**os.environ, "XDG_STATE_HOME": str(state_dir), "NO_COLOR": "1"}
        self.env.pop("FLEET_INVENTORY", None)

    def argv(self, *args: str) -> list[str]:
        inventory = ["-i", str(self.inventory)] if self.inventory else []
        command, rest = args[0], list(args[1:])
        return [sys.executable, "-m", "controller", command, *inventory, *rest]

    def __call__(self, *args: str, timeout: float = 240) -> FleetResult:
        start = time.monotonic()
        proc = subprocess.run(
            self.argv(*args), capture_output=True, text=True, timeout=timeout, env=self.env
        )
        return FleetResult(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )

    def runs_dir(self) -> Path:
        return self.state_dir / "fleet" / "runs"

    def meta(self, run_id: str) -> dict[str, Any]:
        """What the controller recorded of a run beside its report (notes, connections...)."""
        return json.loads((self.runs_dir() / run_id / "meta.json").read_text())  # type: ignore[no-any-return]


def finish(proc: subprocess.Popen[str], timeout: float = 240) -> FleetResult:
    start = time.monotonic()
    out, err = proc.communicate(timeout=timeout)
    return FleetResult(proc.returncode, out, err, time.monotonic() - start)


def wait_for(predicate: Callable[[], T], timeout: float, what: str) -> T:
    """The predicate's first true value, polled every 0.1 s until timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def install_slow_compose(lab: Lab, host: str) -> None:
    """Give a host the slow compose wrapper (set its inventory compose_command to use it)."""
    root = lab.hosts[host].root_dir
    (root / "bin").mkdir(exist_ok=True)
    wrapper = root / "bin" / "slow-compose"
    wrapper.write_text(SLOW_COMPOSE)
    wrapper.chmod(0o755)
    (root / "slow").mkdir(exist_ok=True)


def make_slow(lab: Lab, host: str, svc: str, seconds: float) -> None:
    (lab.hosts[host].root_dir / "slow" / svc).write_text(f"{seconds}\n")


def clear_slow(lab: Lab, host: str) -> None:
    for marker in (lab.hosts[host].root_dir / "slow").glob("*"):
        marker.unlink()


def state_dir(lab: Lab, host: str) -> Path:
    return lab.hosts[host].root_dir / "state" / "deploy"


def read_state(lab: Lab, host: str, name: str) -> str | None:
    try:
        return (state_dir(lab, host) / name).read_text().strip()
    except FileNotFoundError:
        return None


def completed_stages(lab: Lab, host: str) -> set[str]:
    return {
        p.name[len("stage_") : -len("_complete")]
        for p in state_dir(lab, host).glob("stage_*_complete")
    }


def run_finished(lab: Lab, host: str) -> bool:
    return "complete" in completed_stages(lab, host)


def lock_holder(lab: Lab, host: str) -> dict[str, Any] | None:
    try:
        return json.loads((state_dir(lab, host) / "lock").read_text())  # type: ignore[no-any-return]
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def kill_run(lab: Lab, host: str) -> None:
    """SIGKILL the host's detached run and everything it started (a power cut of the run)."""
    holder = lock_holder(lab, host)
    assert holder and holder.get("pid"), f"no run holds the lock on {host}"
    kill_tree(int(holder["pid"]))


def host_logs(lab: Lab, host: str) -> list[Path]:
    """The host's run logs, oldest first: a second run started within the same second is
    `deploy_<ts>-1.log`, which a plain sort would put before `deploy_<ts>.log`."""
    logs = (lab.hosts[host].root_dir / "logs" / "deploy").glob("deploy_*.log")
    return sorted(logs, key=_run_log_order)


def _run_log_order(path: Path) -> tuple[str, int]:
    stamp, _, count = path.stem.partition("-")
    return stamp, int(count) if count.isdigit() else 0


def struct_events(text: str) -> list[dict[str, Any]]:
    """The events of the [STRUCT] lines in text, read as the controller reads them (a torn
    line, from a run killed mid-write, is no event)."""
    parsed = (parse_struct_line(line.encode()) for line in text.splitlines())
    return [event for event in parsed if event is not None]
