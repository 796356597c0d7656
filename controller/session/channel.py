"""The runner channel: every command any feature sends a host goes through here.

Each command is framed (framing.Frame), so a login banner never reaches a parser. The
runner's commands run the archive the host has for this hash, uploading it on exit 97;
their input rides inline as a here-document (a plan) or on stdin (a push manifest).
Plain sh commands (the status snapshot, the releases script, a log's tail, the check
probe) are framed the same way. Files travel through the connector's exec-channel
scripts (transport/transfer.py), also from here only.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controller.errors import FleetError
from controller.session.link import Link, Note
from controller.transport.connector import CommandResult, OnData
from controller.transport.framing import Frame
from controller.transport.shell import ShellLine, inline_input, runner_command, runner_path
from remote.protocol import RUNNER_LINK, Exit, runner_name


@dataclass(frozen=True, slots=True)
class Runner:
    """The runner archive's bytes and hash (built once per process)."""

    data: bytes
    sha256: str


@functools.cache
def load_runner() -> Runner:
    """The runner archive, built once per process, or taken from the state folder when the
    sources have not changed; its hash decides every upload."""
    from controller.report.store import state_dir
    from remote.build import cached_runner

    data, sha = cached_runner(str(state_dir() / "runner"))
    return Runner(data=data, sha256=sha)


class BadAnswer(FleetError):
    """The runner printed something that is not the JSON object its command promises."""


def answer_json(res: CommandResult, what: str) -> dict[str, Any]:
    """A runner command's JSON object; BadAnswer (a clear cause) for anything else."""
    try:
        data = json.loads(res.stdout or b"{}")
    except ValueError:
        text = res.stdout.decode(errors="replace").strip()[:80]
        raise BadAnswer(f"the runner's {what} printed no JSON: {text!r}") from None
    if not isinstance(data, dict):
        raise BadAnswer(f"the runner's {what} printed JSON that is not an object")
    return data


class Channel:
    """Commands and files to one host over its link."""

    def __init__(self, link: Link, root: str, runner: Runner | None, note: Note) -> None:
        self.link = link
        self.root = root
        self.runner_bytes_uploaded = 0
        self._runner = runner
        self._note = note

    async def sh(
        self,
        line: ShellLine,
        stdin: bytes | None = None,
        on_stdout: OnData | None = None,
        *,
        end: bool = False,
    ) -> CommandResult:
        """Run a command whose output is parsed: only what it printed after its frame's
        begin line counts. `end`: it does not exec, so its output ends with a frame line
        too (a trailing banner or logout message is cut off)."""
        frame = Frame()
        sink = frame.stream(on_stdout) if on_stdout is not None else None
        framed = line.rewritten(frame.wrap(line, end=end))
        res = await self.link.conn.run(framed, stdin, sink)
        return CommandResult(res.exit_status, frame.inner(res.stdout), frame.inner(res.stderr))

    async def runner(
        self,
        args: Sequence[str],
        stdin: bytes | None = None,
        on_stdout: OnData | None = None,
        *,
        json_input: bool = False,
    ) -> CommandResult:
        """Run a runner command; upload the archive on exit 97 and run it again.
        `json_input`: stdin is one JSON document (a plan), which a here-document's final
        newline leaves as it is, so it may ride inside the command (shell.inline_input);
        other input (a push manifest, whose bytes name a revision) stays on stdin."""
        runner = self._require_runner()
        inline = json_input and inline_input(stdin)
        line = runner_command(self.root, runner.sha256, args, stdin if inline else None)
        stdin = None if inline else stdin
        res = await self.sh(line, stdin, on_stdout)
        if res.exit_status == Exit.NO_RUNNER:
            await self._upload_runner(runner)
            res = await self.sh(line, stdin, on_stdout)
        return res

    async def get(self, path: str) -> bytes:
        """A whole (small) file from the host. TransferError or LinkLost."""
        return await self.link.conn.get(path)

    def _require_runner(self) -> Runner:
        if self._runner is None:
            raise FleetError("this command runs plain sh only: no runner was given")
        return self._runner

    async def _upload_runner(self, runner: Runner) -> None:
        self._note("uploading runner")
        conn = self.link.conn
        await conn.put(runner.data, runner_path(self.root, runner.sha256))
        await conn.symlink(runner_name(runner.sha256), f"{self.root.rstrip('/')}/{RUNNER_LINK}")
        self.runner_bytes_uploaded += len(runner.data)
        self._note(None)
