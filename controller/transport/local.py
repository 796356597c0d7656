"""The `local` connector: `connection: local` hosts run the same commands with /bin/sh."""

from __future__ import annotations

import asyncio
import contextlib

from controller.transport.connector import CommandResult, ExecFiles, OnData
from inventory import Host


class LocalConnector(ExecFiles):
    """`connection: local`: the same commands, run with /bin/sh on this machine."""

    def __init__(self, host: Host) -> None:
        self.host = host

    async def connect(self) -> None:
        return None

    async def run(
        self, command: str, stdin: bytes | None = None, on_stdout: OnData | None = None
    ) -> CommandResult:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdin and proc.stdout and proc.stderr
        with contextlib.suppress(BrokenPipeError, ConnectionError):
            if stdin:
                proc.stdin.write(stdin)
            proc.stdin.close()
        out = bytearray()
        err_task = asyncio.ensure_future(proc.stderr.read())
        while chunk := await proc.stdout.read(65536):
            if on_stdout is not None:
                on_stdout(chunk)
            else:
                out += chunk
        stderr = await err_task
        status = await proc.wait()
        return CommandResult(status if status >= 0 else 128 - status, bytes(out), stderr)

    async def close(self) -> None:
        return None
