"""A fake host for the runner: a temp root R, service folders, and a fake compose."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from remote import cli
from remote.run.runlog import parse_struct_line

REPO = Path(__file__).resolve().parents[3]
FAKE_COMPOSE = Path(__file__).with_name("fake_compose.py")
RUN_ID = "20261127T041500Z-abc123"
T = TypeVar("T")


def runner_process(*args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    """The runner in a process of its own: `python -m remote.cli ARGS`, from the repo."""
    return subprocess.Popen([sys.executable, "-m", "remote.cli", *args], cwd=REPO, **kwargs)


def wait_for(predicate: Callable[[], T], timeout: float = 15.0) -> T:
    """Poll `predicate` until it gives a true value, and give that value back."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting ({timeout}s)")


def events_in(data: bytes) -> list[dict[str, Any]]:
    """The events of the [STRUCT] lines in `data` (a run log, a command's stdout)."""
    records = (parse_struct_line(line) for line in data.splitlines())
    return [record for record in records if record]


@dataclass
class Outcome:
    """What one runner command did: exit code, stdout bytes, the events it printed."""

    code: int
    stdout: bytes
    stderr: str

    @property
    def events(self) -> list[dict[str, Any]]:
        return events_in(self.stdout)

    def named(self, event: str) -> list[dict[str, Any]]:
        return [record for record in self.events if record["event"] == event]

    def kinds(self) -> list[str]:
        return [record["event"] for record in self.events]


@dataclass
class FakeHost:
    """R on disk plus a fake compose whose behaviour `control` sets."""

    tmp: Path
    services: list[str] = field(default_factory=list)
    control: dict[str, Any] = field(default_factory=dict)
    timeouts: dict[str, float] = field(
        default_factory=lambda: {"verify_s": 0.3, "healthcheck_s": 5, "git_pull_s": 5}
    )
    host: str = "nas"
    run_id: str = RUN_ID

    @property
    def root(self) -> Path:
        return self.tmp / "R"

    @property
    def state(self) -> Path:
        return self.root / "state" / "deploy"

    @property
    def logs(self) -> Path:
        return self.root / "logs" / "deploy"

    @property
    def calls_file(self) -> Path:
        return self.tmp / "calls.jsonl"

    @property
    def control_file(self) -> Path:
        return self.tmp / "control.json"

    def add_service(
        self,
        name: str,
        definition: str = "compose.yaml",
        env: str | None = None,
        override: bool = False,
        healthcheck: str | None = None,
    ) -> Path:
        folder = self.root / "repo" / "services" / name
        folder.mkdir(parents=True, exist_ok=True)
        if definition:
            (folder / definition).write_text("services:\n  app:\n    image: fake\n")
        config = self.root / "config" / name
        if env is not None or override:
            config.mkdir(parents=True, exist_ok=True)
        if env is not None:
            (config / ".env").write_text(env)
        if override:
            (config / "docker-compose.override.yml").write_text("services: {}\n")
        if healthcheck is not None:
            (folder / "healthcheck.sh").write_text(healthcheck)
        self.services.append(name)
        return folder

    def plan(self, **overrides: Any) -> dict[str, Any]:
        plan = {
            "version": 1,
            "host": self.host,
            "run_id": self.run_id,
            "root": str(self.root),
            "repo": str(self.root / "repo"),
            "services": list(self.services),
            "compose_command": [sys.executable, str(FAKE_COMPOSE), str(self.control_file)],
            "timeouts": dict(self.timeouts),
        }
        plan.update(overrides)
        return plan

    def write_plan(self, **overrides: Any) -> Path:
        path = self.root / ".fleet" / "plan.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.plan(**overrides)))
        return path

    def write_control(self) -> None:
        self.control_file.write_text(json.dumps(dict(self.control, log=str(self.calls_file))))

    def runner(self, *args: str, stdin: str = "") -> Outcome:
        """Run a runner command in-process, its stdout captured as bytes."""
        self.write_control()
        out, err = io.BytesIO(), io.StringIO()
        stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
        argv = list(args)
        command = argv[:1] if argv[:1] and argv[0] in cli.COMMANDS else []
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sys, "stdout", stdout)
            patch.setattr(sys, "stderr", err)
            patch.setattr(sys, "stdin", io.StringIO(stdin))
            code = cli.main([*command, "--root", str(self.root), *argv[len(command) :]])
            stdout.flush()
        return Outcome(code, out.getvalue(), err.getvalue())

    def start_process(self, **kwargs: Any) -> subprocess.Popen[bytes]:
        """`start --plan -` in a process of its own, as the controller runs it: this
        host's plan on stdin (then end of file), stdout piped."""
        self.write_control()
        read_fd, write_fd = os.pipe()
        with os.fdopen(write_fd, "wb") as stdin:  # a plan is far less than a pipe holds
            stdin.write(json.dumps(self.plan()).encode())
        try:
            return runner_process(
                "start", "--root", str(self.root), "--plan", "-",
                stdin=read_fd, stdout=subprocess.PIPE, **kwargs,
            )  # fmt: skip
        finally:
            os.close(read_fd)

    def run(self, *args: str) -> Outcome:
        """A foreground run of the saved plan (written fresh unless it exists)."""
        if not (self.root / ".fleet" / "plan.json").exists():
            self.write_plan()
        return self.runner(*args)

    def calls(self, verb: str | None = None) -> list[dict[str, Any]]:
        if not self.calls_file.exists():
            return []
        calls = [json.loads(line) for line in self.calls_file.read_text().splitlines()]
        return [call for call in calls if verb is None or call["verb"] == verb]

    def deployed(self) -> list[str]:
        return [call["project"] for call in self.calls("up")]

    def reset_calls(self) -> None:
        if self.calls_file.exists():
            self.calls_file.unlink()

    def summary(self) -> dict[str, Any]:
        return json.loads((self.state / "summary.json").read_text())


@pytest.fixture
def fake_host(tmp_path: Path) -> FakeHost:
    return FakeHost(tmp_path)


@pytest.fixture
def three_services(fake_host: FakeHost) -> FakeHost:
    for name in ("alpha", "bravo", "charlie"):
        fake_host.add_service(name)
    return fake_host
