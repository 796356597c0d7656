"""The transport interface: what every connector (ssh.py, local.py) offers the session.

The session above never knows which one it has. Commands are shell strings built once,
at the boundary, by `shell.py`; connectors only carry them. Files travel over exec
channels (transfer.py) the same way on both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from controller.errors import FleetError
from controller.report.problems import Problem
from controller.transport import transfer
from controller.transport.framing import OnData as OnData  # the Connector protocol's type
from inventory import Host


@dataclass(frozen=True, slots=True)
class CommandResult:
    """How a command ended. stdout is empty when it was streamed to a callback."""

    exit_status: int
    stdout: bytes
    stderr: bytes


class ConnectError(FleetError):
    """No connection to the host; `problem` says why, `transient` whether a retry may help."""

    def __init__(self, message: str, *, problem: Problem, transient: bool, host: str | None = None):
        super().__init__(message, host=host)
        self.problem = problem
        self.transient = transient


class LinkLost(FleetError):
    """The connection dropped while a command was running on it."""


class Connector(Protocol):
    """The surface every connector has (pyinfra's connectors/base.py idea)."""

    async def connect(self) -> None:
        """Open the host's one connection; raises ConnectError."""

    async def run(
        self, command: str, stdin: bytes | None = None, on_stdout: OnData | None = None
    ) -> CommandResult:
        """Run a shell command; stream stdout chunks to on_stdout if given. Raises LinkLost."""

    async def put(self, data: bytes, path: str, mode: int = 0o644) -> None:
        """Write a file atomically (temp name, then rename), creating its folder.
        Raises transfer.TransferError (a cause retrying cannot mend) or LinkLost."""

    async def symlink(self, target: str, path: str) -> None:
        """Point the symlink `path` at `target`, replacing it atomically."""

    async def get(self, path: str) -> bytes:
        """Read a whole (small) file. Raises transfer.TransferError or LinkLost."""

    async def close(self) -> None:
        """Close the connection; safe to call twice."""


ConnectorFactory = Callable[[Host], Connector]


class ExecFiles:
    """Files over exec channels (transfer.py), for a connector that can run commands:
    one way files travel, one way their failures read, over ssh and locally alike."""

    host: Host

    async def run(
        self, command: str, stdin: bytes | None = None, on_stdout: OnData | None = None
    ) -> CommandResult:
        raise NotImplementedError

    async def _run_stdin(self, command: str, stdin: bytes | None) -> CommandResult:
        return await self.run(command, stdin)

    async def put(self, data: bytes, path: str, mode: int = 0o644) -> None:
        try:
            await transfer.put(self._run_stdin, data, path, mode)
        except transfer.Corrupted as err:  # a cut stream: the link's fault, worth a retry
            raise LinkLost(str(err), host=self.host.name) from err

    async def symlink(self, target: str, path: str) -> None:
        await transfer.symlink(self._run_stdin, target, path)

    async def get(self, path: str) -> bytes:
        return await transfer.get(self._run_stdin, path)
