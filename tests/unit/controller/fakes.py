"""A fake host behind the Connector interface: runs the runner's protocol in memory."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field

from controller.report.problems import Problem
from controller.session.channel import Runner
from controller.session.link import Timing
from controller.transport.connector import CommandResult, ConnectError, LinkLost, OnData
from controller.transport.shell import PYTHON, STATUS_SNAPSHOT, ShellLine
from inventory import Host
from remote.protocol import REFUSED, Exit
from remote.run.lock import describe_holder
from remote.run.runlog import make_event, struct_line
from remote.status import SNAPSHOT_HEADER

RUNNER = Runner(data=b"PK-fake-runner-archive", sha256="ab" * 32)
LOCK_STARTED = "2026-01-01T00:00:00Z"  # when the run of FakeHost.locked_by took the lock


def struct(**fields: object) -> bytes:
    return b"[STRUCT] " + json.dumps(fields).encode() + b"\n"


def run_log(
    host: str,
    run_id: str,
    services: tuple[str, ...],
    *,
    fail: str | None = None,
    skip: tuple[str, ...] = (),
    log: str = "/opt/homelab/logs/deploy/deploy_20260101T000000Z.log",
) -> bytes:
    """The bytes of a run log as the runner would write them."""
    diag = "/opt/homelab/logs/deploy/diagnostics_20260101T000000Z.txt"
    ev = {"host": host, "run_id": run_id}
    out = struct(event="run_started", path=log, **ev)
    for stage in ("prepare", "validate"):
        out += struct(event="stage_started", stage=stage, **ev)
        out += b"plain output line of " + stage.encode() + b"\n"
        out += struct(event="stage_completed", stage=stage, **ev)
    out += struct(event="stage_started", stage="deploy", **ev)
    for svc in services:
        if svc in skip:
            out += struct(event="service_skipped", stage="deploy", service=svc, **ev)
            continue
        out += struct(event="service_started", stage="deploy", service=svc, **ev)
        if svc == fail:
            msg = f"docker compose up for {svc} exited 1"
            out += struct(event="service_failed", stage="deploy", service=svc, message=msg, **ev)
            out += struct(event="stage_failed", stage="deploy", message=msg, **ev)
            out += struct(event="stage_started", stage="diagnose", **ev)
            out += struct(event="diagnostics_collected", stage="diagnose", path=diag, **ev)
            out += struct(event="stage_completed", stage="diagnose", **ev)
            out += struct(event="run_failed", status="failed", **ev)
            return out
        out += struct(event="service_completed", stage="deploy", service=svc, **ev)
    out += struct(event="stage_completed", stage="deploy", **ev)
    for stage in ("verify", "complete"):
        out += struct(event="stage_started", stage=stage, **ev)
        out += struct(event="stage_completed", stage=stage, **ev)
    out += struct(event="run_completed", status="completed", **ev)
    return out


@dataclass
class FakeHost:
    """What is on one fake host, and how its link behaves."""

    host: Host
    runners: set[str] = field(default_factory=set)
    connect_errors: list[ConnectError] = field(default_factory=list)
    fail_service: str | None = None
    drop_after: int | None = None  # bytes of the start stream before the link drops
    drops: int = 1  # how many times the link drops
    stay_down: bool = False  # after a drop, connects fail with a timeout
    locked_by: str | None = None  # the run id of another run holding the host's lock
    running_run: str | None = None  # a run already going (resume re-attaches)
    exit_override: int | None = None  # guard/shell outcome for every runner command
    start_dies: bytes | None = None  # `start` exits 1 with this stderr, no log opened
    files: dict[str, bytes] = field(default_factory=dict)
    log: bytes = b""
    log_path: str = "/opt/homelab/logs/deploy/deploy_20260101T000000Z.log"
    connects: int = 0
    commands: list[str] = field(default_factory=list)
    plans: list[dict[str, object]] = field(default_factory=list)
    resumed: bool = False
    chunk: int = 37  # stream in odd-sized chunks: lines are split across them
    link_down: bool = False
    banner: bool = False  # the login shell prints a banner on stdout and stderr
    put_error: Exception | None = None  # every upload raises this
    put_lost: bool = False  # every upload loses the link, however often it reconnects

    def connect(self) -> None:
        self.connects += 1
        if self.connect_errors:
            raise self.connect_errors.pop(0)
        if self.link_down and self.stay_down:
            raise ConnectError("timed out", problem=Problem.CONN_TIMEOUT, transient=True)
        self.link_down = False

    def _stream(
        self, data: bytes, on_stdout: OnData | None, code: int, stderr: bytes = b""
    ) -> CommandResult:
        sent = 0
        for i in range(0, len(data), self.chunk):
            piece = data[i : i + self.chunk]
            if (
                self.drop_after is not None
                and self.drops > 0
                and sent + len(piece) > self.drop_after
            ):
                if on_stdout is not None:
                    on_stdout(piece[: self.drop_after - sent])
                self.drops -= 1
                self.link_down = True
                raise LinkLost("connection lost: fake drop")
            sent += len(piece)
            if on_stdout is not None:
                on_stdout(piece)
        return CommandResult(code, b"" if on_stdout else data, stderr)

    def run(self, command: str, stdin: bytes | None, on_stdout: OnData | None) -> CommandResult:
        """Answer by the argv the channel ran (transport.shell.ShellLine), never by parsing
        the shell text; the text is kept in `commands` for what a test wants to see."""
        self.commands.append(command)
        if self.link_down:
            raise LinkLost("not connected")
        assert isinstance(command, ShellLine), "every command goes through the channel"
        argv = command.argv
        if argv[:2] == ("sh", STATUS_SNAPSHOT):  # `fleet status` reads the state with plain sh
            return CommandResult(0, self.snapshot().encode(), b"")
        if self.exit_override is not None:
            return CommandResult(self.exit_override, b"", b"python3: too old (3.6)\n")
        assert argv[: len(PYTHON)] == PYTHON, argv
        archive, sub, *args = argv[len(PYTHON) :]
        if archive.rsplit("/", 1)[1] not in self.runners:
            return CommandResult(97, b"", b"")
        return self.runner(sub, args, command.input or stdin, on_stdout)

    def runner(
        self, sub: str, args: list[str], stdin: bytes | None, on_stdout: OnData | None
    ) -> CommandResult:
        """The runner's subcommand `sub` with its arguments and input."""
        if sub == "status":
            return CommandResult(0, json.dumps(self.status()).encode(), b"")
        if sub == "start":
            return self.start(args, stdin or b"", on_stdout)
        if sub == "follow":
            offset = int(args[args.index("--offset") + 1])
            return self._stream(self.log[offset:], on_stdout, self.exit_code())
        raise AssertionError((sub, args))

    def exit_code(self) -> int:
        return 0 if b'"run_completed"' in self.log else 1

    def start(self, argv: list[str], stdin: bytes, on_stdout: OnData | None) -> CommandResult:
        plan = json.loads(stdin)
        self.plans.append(plan)
        if self.locked_by:
            return self.refuse(plan, on_stdout)
        if self.start_dies is not None:
            return CommandResult(1, b"", self.start_dies)
        self.resumed = "--resume" in argv
        skip = tuple(self.host.services[:1]) if self.resumed else ()
        self.log = run_log(
            self.host.name,
            str(plan["run_id"]),
            self.host.services,
            fail=self.fail_service,
            skip=skip,
            log=self.log_path,
        )
        return self._stream(self.log, on_stdout, self.exit_code())

    def refuse(self, plan: dict[str, object], on_stdout: OnData | None) -> CommandResult:
        """What remote.cli does when the lock is held: one run_failed line (status
        refused) on stdout, the same message on stderr, exit LOCKED."""
        holder = {"run_id": self.locked_by, "pid": 42, "started": LOCK_STARTED}
        message = f"this host is busy: {describe_holder(holder)} holds its lock"
        refused = make_event(
            "2026-01-01T00:00:01.000Z", str(plan["host"]), str(plan["run_id"]), "run_failed",
            status=REFUSED, message=message,
        )  # fmt: skip
        line = struct_line(refused).encode() + b"\n"
        return self._stream(line, on_stdout, Exit.LOCKED, f"fleet-runner: {message}\n".encode())

    def snapshot(self) -> str:
        """What remote.status.SNAPSHOT_SCRIPT prints for this host."""
        status = self.status()
        lines = []
        for name in ("current_stage", "last_service"):
            if status[name]:
                lines += [f"{SNAPSHOT_HEADER}file {name}", str(status[name])]
        if status["running"]:
            lines += [f"{SNAPSHOT_HEADER}file lock", json.dumps(status["running"])]
            lines.append(f"{SNAPSHOT_HEADER}alive")
        return "\n".join(lines) + "\n"

    def status(self) -> dict[str, object]:
        running = None
        if self.running_run:
            running = {"run_id": self.running_run, "pid": 42, "started": "x", "log": self.log_path}
        return {
            "host": self.host.name,
            "root": self.host.root,
            "current_stage": "complete" if self.log else None,
            "completed_stages": [],
            "last_service": self.host.services[-1] if self.log else None,
            "running": running,
            "last_run": None,
            "plan": None,
        }


class FakeConnector:
    """The Connector surface over a FakeHost."""

    def __init__(self, fake: FakeHost) -> None:
        self.fake = fake

    async def connect(self) -> None:
        self.fake.connect()

    async def run(
        self, command: str, stdin: bytes | None = None, on_stdout: OnData | None = None
    ) -> CommandResult:
        """As a host's sh would: banner (if any), then the frame's lines, then the command."""
        banner = b"Welcome to fake NAS\n@@fleet-0000-begin@@\n" if self.fake.banner else b""
        begin = re.search(r"@@fleet-[0-9a-f]+-begin@@", command)
        head = banner + (begin.group().encode() + b"\n" if begin else b"")
        if on_stdout is not None and head:
            on_stdout(head)
        res = self.fake.run(command, stdin, on_stdout)
        end = re.search(r"@@fleet-[0-9a-f]+-end@@", command)
        tail = b"\n" + end.group().encode() + b"\n" + banner if end else b""
        stdout = res.stdout if on_stdout is not None else head + res.stdout + tail
        return CommandResult(res.exit_status, stdout, head + res.stderr)

    async def put(self, data: bytes, path: str, mode: int = 0o644) -> None:
        if self.fake.put_error is not None:
            raise self.fake.put_error
        if self.fake.put_lost:
            raise LinkLost("connection lost: fake drop during upload")
        self.fake.files[path] = data
        self.fake.runners.add(path.rsplit("/", 1)[1])

    async def symlink(self, target: str, path: str) -> None:
        self.fake.files[path] = b"-> " + target.encode()

    async def get(self, path: str) -> bytes:
        return b"== containers ==\nweb  exited (1)\n== logs ==\nweb | boom: bad config\n"

    async def close(self) -> None:
        return None


class FakeFleet:
    """A connector factory over several fake hosts."""

    def __init__(self, fakes: list[FakeHost]) -> None:
        self.fakes = {f.host.name: f for f in fakes}

    def __call__(self, host: Host) -> FakeConnector:
        return FakeConnector(self.fakes[host.name])


def make_host(name: str, services: tuple[str, ...] = ("web", "db")) -> Host:
    return Host(name=name, address=f"{name}.lan", services=services)


@dataclass
class FakeTime:
    """A clock that only sleeps move (every sleep recorded): retries and reconnect
    deadlines run in fake time, never in real sleeps."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)

    def timing(self) -> Timing:
        return Timing(clock=self.clock, sleep=self.sleep, rng=random.Random(7))
