"""The stage-runner archive on a real Docker Engine with Compose v2 and busybox services.

No sshd here: the built fleet-runner.pyz runs as a subprocess against a temp root, as it
would on a host. Every test uses its own compose projects and removes them afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remote.build import build_runner, package_dir
from remote.protocol import Exit, runner_name
from tests.e2e.support import struct_events, wait_for
from tests.lab import busybox_compose, project_container_ids, remove_compose_projects
from tests.lab.procs import kill_tree, stop_run

pytestmark = pytest.mark.e2e

SECRET = "e2e-Secret-4242"

# `up` of a project waits while R/hold/<project> exists, so a test can act mid-deploy.
HOLDING_COMPOSE = """\
#!/bin/sh
project=$2
case " $* " in
  *" up "*)
    echo $$ > "{hold}/$project.pid"
    while [ -e "{hold}/$project" ]; do sleep 0.1; done ;;
esac
exec docker compose "$@"
"""


class RunnerHost:
    """A host root R with real services, and the runner archive to drive it."""

    def __init__(self, root: Path, archive: Path, prefix: str, image: str) -> None:
        self.root = root
        self.archive = archive
        self.image = image
        self.services = [f"rt-{prefix}-{n}" for n in ("one", "two", "three")]
        self.hold = root / "hold"
        self.hold.mkdir(parents=True)
        self.compose_command = ["docker", "compose"]

    def write_service(self, name: str, text: str) -> None:
        folder = self.root / "repo" / "services" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "compose.yaml").write_text(text)

    def use_holding_compose(self) -> None:
        script = self.root / "holding-compose"
        script.write_text(HOLDING_COMPOSE.format(hold=self.hold))
        self.compose_command = ["sh", str(script)]

    def plan(self, run_id: str) -> str:
        return json.dumps(
            {
                "version": 1,
                "host": "e2e",
                "run_id": run_id,
                "root": str(self.root),
                "repo": str(self.root / "repo"),
                "services": self.services,
                "compose_command": self.compose_command,
                "timeouts": {"verify_s": 30, "compose_s": 60, "git_pull_s": 5},
            }
        )

    def command(self, *args: str) -> list[str]:
        return [sys.executable, str(self.archive), *args, "--root", str(self.root)]

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), input=stdin, capture_output=True, text=True, timeout=120
        )

    def start(self, run_id: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            self.command("start", "--plan", "-"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # as sshd starts a session's command
        )
        assert proc.stdin is not None
        proc.stdin.write(self.plan(run_id))
        proc.stdin.close()
        proc.stdin = None  # so that communicate() does not flush the closed pipe
        return proc

    def status(self) -> dict[str, Any]:
        result = self.run("status")
        assert result.returncode == Exit.OK, result.stderr
        return json.loads(result.stdout)

    def holder(self) -> dict[str, Any] | None:
        text = (self.root / "state" / "deploy" / "lock").read_text()
        return json.loads(text) if text.strip() else None

    def wait_holding(self, name: str) -> int:
        """The pid of the compose wrapper held at `up` of `name`, once it is there."""
        pid_file = self.hold / f"{name}.pid"
        wait_for(pid_file.exists, 30, f"`up` of {name} to be held")
        return int(pid_file.read_text())


def named(output: str, event: str) -> list[dict[str, Any]]:
    return [record for record in struct_events(output) if record["event"] == event]


def summary_status(host: RunnerHost) -> str | None:
    path = host.root / "state" / "deploy" / "summary.json"
    return json.loads(path.read_text())["status"] if path.exists() else None


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("runner") / "fleet-runner.pyz"
    path.write_bytes(build_runner()[0])
    return path


@pytest.fixture
def host(tmp_path: Path, archive: Path, busybox_image: str, unique: str) -> Iterator[RunnerHost]:
    runner_host = RunnerHost(tmp_path / "R", archive, unique, busybox_image)
    for name in runner_host.services:
        runner_host.write_service(name, busybox_compose(image=busybox_image))
    try:
        yield runner_host
    finally:
        stop_run(runner_host.root)  # a run a failed test left holding at `up`
        remove_compose_projects(runner_host.services)


def test_second_service_fails_then_resume_deploys_only_the_rest(host: RunnerHost) -> None:
    """Service two references an image that cannot be pulled: the run fails at it with
    diagnostics, service one keeps running; once fixed, --resume deploys two and three
    only, leaving service one's container untouched. No .env secret shows anywhere."""
    one, two, three = host.services
    config = host.root / "config" / one
    config.mkdir(parents=True)
    (config / ".env").write_text(f"DB_PASSWORD={SECRET}\n")
    host.write_service(
        one,
        "services:\n  app:\n"
        f"    image: {host.image}\n"
        "    command: ['sh', '-c', 'echo password=$$DB_PASSWORD; exec sleep 3600']\n"
        "    environment:\n      DB_PASSWORD: ${DB_PASSWORD}\n"
        "    stop_signal: SIGKILL\n",
    )
    host.write_service(
        two,
        "services:\n  app:\n    image: fleet-test/nope:1\n    pull_policy: never\n"
        "    command: ['sleep', '3600']\n",
    )
    (host.root / ".fleet").mkdir()
    (host.root / ".fleet" / "plan.json").write_text(host.plan("20261127T041500Z-e2e001"))

    failed = host.run()
    assert failed.returncode == Exit.FAILED, failed.stderr
    service_failed = named(failed.stdout, "service_failed")[0]
    assert (service_failed["stage"], service_failed["service"]) == ("deploy", two)
    assert "fleet-test/nope:1" in service_failed["message"]
    diagnostics = Path(named(failed.stdout, "diagnostics_collected")[0]["path"])
    text = diagnostics.read_text()
    assert f"containers of {two}" in text and f"logs of {one}" in text
    assert "password=***" in text  # the container printed it; diagnostics masked it
    one_ids = project_container_ids(one)
    assert len(one_ids) == 1
    assert project_container_ids(three) == []

    host.write_service(two, busybox_compose(image=host.image))
    resumed = host.run("--resume")
    assert resumed.returncode == Exit.OK, resumed.stdout
    assert [e["service"] for e in named(resumed.stdout, "service_skipped")] == [one]
    deployed = [e["service"] for e in named(resumed.stdout, "service_completed")
                if e["stage"] == "deploy"]  # fmt: skip
    assert deployed == [two, three]
    assert project_container_ids(one) == one_ids
    assert all(project_container_ids(name) for name in (two, three))

    logs = host.root / "logs" / "deploy"
    everything = failed.stdout + resumed.stdout + "".join(p.read_text() for p in logs.iterdir())
    assert SECRET not in everything
    assert SECRET not in (host.root / "state" / "deploy" / "summary.json").read_text()


def test_sigkill_mid_deploy_then_resume(host: RunnerHost) -> None:
    """A detached run SIGKILLed while deploying service two leaves state that status
    calls interrupted; --resume takes over the stale lock, skips service one and deploys
    two and three."""
    one, two, _three = host.services
    host.use_holding_compose()
    (host.hold / two).touch()
    start = host.start("20261127T041500Z-e2e002")
    host.wait_holding(two)
    kill_tree(host.holder()["pid"])  # with its held `up`, which must not race the resumed one
    out, _ = start.communicate(timeout=30)
    assert start.returncode == Exit.VANISHED
    assert not named(out, "run_completed") and not named(out, "run_failed")
    status = host.status()
    assert status["last_run"]["status"] == "interrupted" and status["running"] is None
    assert status["last_service"] == one

    (host.hold / two).unlink()
    plan_file = host.root / ".fleet" / "plan.json"
    assert json.loads(plan_file.read_text())["run_id"] == "20261127T041500Z-e2e002"
    resumed = host.run("--resume")
    assert resumed.returncode == Exit.OK, resumed.stdout
    assert "its process is gone" in named(resumed.stdout, "warning")[0]["message"]
    assert [e["service"] for e in named(resumed.stdout, "service_skipped")] == [one]
    assert all(project_container_ids(name) for name in host.services)


def test_lock_refuses_a_second_run_naming_the_holder(host: RunnerHost) -> None:
    """While a run deploys, a second `start` exits LOCKED with one refused line naming
    the running run; the first run is unaffected and completes."""
    host.use_holding_compose()
    (host.hold / host.services[0]).touch()
    first = host.start("20261127T041500Z-e2e003")
    host.wait_holding(host.services[0])
    second = host.run("start", "--plan", "-", stdin=host.plan("20261127T041500Z-e2e004"))
    assert second.returncode == Exit.LOCKED
    [line] = second.stdout.splitlines()
    refused = struct_events(line)[0]
    assert (refused["event"], refused["status"]) == ("run_failed", "refused")
    assert "20261127T041500Z-e2e003" in refused["message"]
    assert str(host.holder()["pid"]) in refused["message"]
    (host.hold / host.services[0]).unlink()
    out, _ = first.communicate(timeout=90)
    assert first.returncode == Exit.OK
    assert named(out, "run_completed")


def test_start_detaches_from_its_parent(host: RunnerHost) -> None:
    """Ending the session of the `start` process mid-run (SIGHUP, then SIGKILL, to its
    whole process group, as a dropped SSH session would) does not touch the run: it
    completes on its own."""
    host.use_holding_compose()
    (host.hold / host.services[1]).touch()
    start = host.start("20261127T041500Z-e2e005")
    host.wait_holding(host.services[1])
    run_pid = host.holder()["pid"]
    assert run_pid != start.pid and os.getsid(run_pid) != os.getsid(start.pid)
    # Both reach the session's whole process group: a run that had not left it would die
    # of the SIGKILL (SIGHUP it ignores anyway).
    os.killpg(start.pid, signal.SIGHUP)
    os.killpg(start.pid, signal.SIGKILL)
    start.wait()
    for pipe in (start.stdin, start.stdout, start.stderr):
        if pipe is not None:
            pipe.close()  # as sshd does when the session dies: the run's echo gets EPIPE
    (host.hold / host.services[1]).unlink()
    wait_for(lambda: summary_status(host) == "completed", 60, "the detached run to complete")
    assert all(project_container_ids(name) for name in host.services)


def test_follow_from_an_offset_and_status(host: RunnerHost) -> None:
    """`follow` from byte N of a finished run's log prints exactly the rest; `status`
    reports the completed run as JSON."""
    started = host.run("start", "--plan", "-", stdin=host.plan("20261127T041500Z-e2e006"))
    assert started.returncode == Exit.OK, started.stderr
    log = Path(struct_events(started.stdout)[0]["path"])
    data = log.read_bytes()
    assert started.stdout.encode() == data
    offset = len(data) // 2
    followed = subprocess.run(
        host.command("follow", "--log", str(log), "--offset", str(offset),
                     "--run-id", "20261127T041500Z-e2e006"),
        capture_output=True, timeout=30,
    )  # fmt: skip
    assert followed.returncode == Exit.OK
    assert followed.stdout == data[offset:]
    status = host.status()
    assert status["host"] == "e2e" and status["running"] is None
    assert status["completed_stages"] == ["prepare", "validate", "deploy", "verify", "complete"]
    assert status["last_run"]["status"] == "completed"
    assert status["last_run"]["log"] == str(log)
    assert status["plan"]["services"] == host.services


def runner_version(tmp_path: Path, n: int) -> tuple[bytes, str]:
    """A runner archive that differs from the real one by one constant: version `n` (a
    comment would not do: the build strips comments)."""
    source = tmp_path / f"source-{n}" / "remote"
    shutil.copytree(package_dir(), source, ignore=shutil.ignore_patterns("__pycache__"))
    with (source / "protocol.py").open("a") as handle:
        handle.write(f"TEST_RUNNER_VERSION = {n}\n")
    return build_runner(str(source))


def test_three_runner_versions_leave_two(host: RunnerHost, tmp_path: Path) -> None:
    """Three runner versions uploaded and started one after the other, as the controller
    does (hash-named archive, the link, its unpacked copy): after the third run only the
    third and the second remain, archive and unpacked folder each."""
    fleet = host.root / ".fleet"
    fleet.mkdir()
    kept = []
    for n in range(3):
        data, digest = runner_version(tmp_path, n)
        archive = fleet / runner_name(digest)
        archive.write_bytes(data)
        os.utime(archive, (1_000_000 + n, 1_000_000 + n))  # uploaded in this order
        (fleet / "fleet-runner.pyz").unlink(missing_ok=True)
        (fleet / "fleet-runner.pyz").symlink_to(archive.name)
        host.archive = archive
        started = host.run("start", "--plan", "-", stdin=host.plan(f"20261127T041500Z-e2e10{n}"))
        assert started.returncode == Exit.OK, started.stderr
        assert (fleet / archive.name.replace(".pyz", ".d") / "__main__.py").exists()
        kept.append(digest[:16])
    left = sorted(p.name for p in fleet.iterdir() if p.name.startswith("fleet-runner-"))
    assert left == sorted(f"fleet-runner-{d}{s}" for d in kept[1:] for s in (".d", ".pyz"))
    assert f"removed old runner versions: {kept[0]}" in started.stdout
