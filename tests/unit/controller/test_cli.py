"""The CLI: exit codes, the error boundary, and a real deploy over `connection: local`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from controller.cli.app import app
from controller.errors import ExitStatus
from tests.design import HOST_KEYS


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("FLEET_INVENTORY", raising=False)
    return tmp_path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_invalid_inventory_exits_usage_and_contacts_nobody(env: Path) -> None:
    """A broken inventory: exit 2 (USAGE), the file and key named, no run recorded."""
    bad = env / "hosts.yml"
    bad.write_text("hosts:\n  h1:\n    address: 127.0.9.8\n    sevrices: [x]\n")
    code, _, err = invoke("deploy", "-i", str(bad))
    assert code == ExitStatus.USAGE
    assert "sevrices" in err and "hosts.yml" in err
    assert not (env / "state" / "fleet" / "runs").exists()


def test_unknown_host_exits_usage(env: Path) -> None:
    """Selecting a host that is not in the inventory: exit 2 before any connection."""
    inv = env / "hosts.yml"
    inv.write_text("hosts:\n  nas:\n    address: 127.0.9.8\n    services: [x]\n")
    code, _, err = invoke("resume", "-i", str(inv), "nass")
    assert code == ExitStatus.USAGE and "nass" in err


def test_report_without_runs_exits_usage(env: Path) -> None:
    """`fleet report` before any run: a clear message, exit 2."""
    code, _, err = invoke("report")
    assert code == ExitStatus.USAGE and "no run recorded" in err


# A stand-in for `docker compose`: `up` of project P fails while R/broken/P exists.
FAKE_COMPOSE = """#!/bin/sh
case " $* " in *" up "*) [ -f "{root}/broken/$2" ] && echo "up of $2 failed" >&2 && exit 1;; esac
exit 0
"""


def _local_lab(root: Path, services: list[str], broken: tuple[str, ...] = ()) -> Path:
    """A `connection: local` host with a fake compose command and passing healthchecks."""
    for svc in services:
        folder = root / "repo" / "services" / svc
        folder.mkdir(parents=True)
        (folder / "compose.yaml").write_text("services: {}\n")
        (folder / "healthcheck.sh").write_text("#!/bin/sh\nexit 0\n")
    (root / "broken").mkdir()
    for svc in broken:
        (root / "broken" / svc).write_text("")
    compose = root / "compose"
    compose.write_text(FAKE_COMPOSE.format(root=root))
    compose.chmod(0o755)
    inv = root.parent / "hosts.yml"
    inv.write_text(
        "hosts:\n  me:\n    connection: local\n"
        f"    root: {root}\n    compose_command: {compose}\n"
        f"    services: [{', '.join(services)}]\n"
    )
    return inv


@pytest.mark.skipif(shutil.which("python3") is None, reason="the runner needs python3")
def test_local_host_deploys_through_the_real_runner(env: Path) -> None:
    """A local host runs the real runner: completed, recorded, shown again by `report`."""
    inv = _local_lab(env / "root", ["web", "db"])
    code, out, err = invoke("deploy", "-i", str(inv), "--json")
    assert code == ExitStatus.OK, err + out
    report = json.loads(out)
    me = report["hosts"]["me"]
    assert set(me) == HOST_KEYS and me["status"] == "completed"
    assert me["services"] == {"web": "completed", "db": "completed"}
    assert os.path.islink(env / "root" / ".fleet" / "fleet-runner.pyz")
    code, again, _ = invoke("report", "--json")
    assert code == ExitStatus.OK and json.loads(again) == report
    code, table, _ = invoke("status", "-i", str(inv))
    assert code == ExitStatus.OK and "completed" in table


@pytest.mark.skipif(shutil.which("python3") is None, reason="the runner needs python3")
def test_local_failure_then_resume(env: Path) -> None:
    """A failing service: exit 1 with the next command; fixed, resume completes it."""
    inv = _local_lab(env / "root", ["web", "db", "cache"], broken=("db",))
    code, out, _ = invoke("deploy", "-i", str(inv))
    assert code == ExitStatus.NOT_COMPLETED
    assert "deploy/db" in out
    assert f"fix db (see diagnostics), then: fleet resume -i {inv} me" in out
    code, again, _ = invoke("report")
    assert code == ExitStatus.NOT_COMPLETED
    assert f"then: fleet resume -i {inv} me" in again
    (env / "root" / "broken" / "db").unlink()
    code, out, err = invoke("resume", "-i", str(inv), "me", "--json")
    assert code == ExitStatus.OK, err + out
    me = json.loads(out)["hosts"]["me"]
    assert me["services"] == {"web": "skipped", "db": "completed", "cache": "completed"}


def test_verify_timeout_goes_into_the_plan_only_when_set() -> None:
    """--verify-timeout reaches the runner's plan; without it the runner's default stands."""
    from controller.cli.common import Knobs

    assert Knobs(10, concurrency=32, reconnect_timeout=60).options().timeouts == {}
    knobs = Knobs(10, concurrency=32, reconnect_timeout=60, verify_timeout=300)
    assert knobs.options().timeouts == {"verify_s": 300}


def test_start_imports_neither_asyncssh_nor_rich() -> None:
    """Importing the CLI leaves the engine (asyncssh) and Rich to the commands that use
    them, so `report --json` and `--help` start without them; pydantic never comes."""
    late = "{'asyncssh', 'rich', 'pydantic'}"
    code = f"import sys, controller.cli; print(sorted({late} & set(sys.modules)))"
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
