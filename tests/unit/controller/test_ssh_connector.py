"""The ssh connector against an in-process asyncssh server on 127.0.0.1, as asyncssh's
own tests do: a server key and a client key made here, the host key checked through a
known_hosts file written here. Commands run with /bin/sh (beside the real-sshd e2e)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import asyncssh
import pytest

from controller.options import ConnectOptions
from controller.report.problems import Problem
from controller.transport.connector import ConnectError, Connector, LinkLost
from controller.transport.factory import ConnectorFactoryImpl
from controller.transport.shell import argv_line
from inventory import Host

Handler = Callable[[asyncssh.SSHServerProcess[bytes]], Awaitable[None]]


async def run_with_sh(process: asyncssh.SSHServerProcess[bytes]) -> None:
    """An exec request as sshd runs it: the command line given to /bin/sh -c."""
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        process.command or "",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin and proc.stdout and proc.stderr

    async def feed() -> None:
        while data := await process.stdin.read(65536):
            proc.stdin.write(data)
            await proc.stdin.drain()
        proc.stdin.close()

    async def pump(source: asyncio.StreamReader, sink: asyncssh.SSHWriter[bytes]) -> None:
        while data := await source.read(65536):
            sink.write(data)

    await asyncio.gather(
        feed(), pump(proc.stdout, process.stdout), pump(proc.stderr, process.stderr)
    )
    process.exit(await proc.wait())


@dataclass
class Lab:
    """One server and what a client needs to reach it."""

    tmp: Path
    port: int
    host_key: asyncssh.SSHKey
    client_key_path: Path

    def host(self, **changes: object) -> Host:
        host = Host(
            name="box",
            address="127.0.0.1",
            port=self.port,
            user="fleet",
            identity=str(self.client_key_path),
            known_hosts=str(self.tmp / "known_hosts"),
            services=("web",),
        )
        return replace(host, **changes)  # type: ignore[arg-type]

    def trust(self, key: asyncssh.SSHKey | None = None) -> None:
        line = (key or self.host_key).export_public_key("openssh").decode().split()[:2]
        (self.tmp / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {' '.join(line)}\n")


@asynccontextmanager
async def lab(tmp: Path, handler: Handler = run_with_sh) -> AsyncIterator[Lab]:
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = tmp / "id_ed25519"
    client_key.write_private_key(str(key_path))
    authorized = asyncssh.import_authorized_keys(client_key.export_public_key("openssh").decode())
    server = await asyncssh.create_server(
        asyncssh.SSHServer,
        "127.0.0.1",
        0,
        server_host_keys=[host_key],
        authorized_client_keys=authorized,
        process_factory=handler,
        encoding=None,
    )
    port = server.sockets[0].getsockname()[1]
    try:
        yield Lab(tmp, port, host_key, key_path)
    finally:
        server.close()
        await server.wait_closed()


def connector(host: Host, accept_new: bool = False) -> Connector:
    return ConnectorFactoryImpl(ConnectOptions(connect_timeout=5, accept_new=accept_new))(host)


@pytest.fixture(autouse=True)
def _no_agent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only the test's own key is offered, and no ~/.ssh/config of this machine applies."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


def test_commands_run_stream_and_carry_stdin_over_a_trusted_key(tmp_path: Path) -> None:
    async def main() -> None:
        async with lab(tmp_path) as server:
            server.trust()
            conn = connector(server.host())
            await conn.connect()
            try:
                res = await conn.run(argv_line(["sh", "-c", "echo out; echo err >&2; exit 3"]))
                assert (res.exit_status, res.stdout, res.stderr) == (3, b"out\n", b"err\n")
                seen: list[bytes] = []
                res = await conn.run("cat", b"line one\nline two\n", seen.append)
                assert res.exit_status == 0 and b"".join(seen) == b"line one\nline two\n"
            finally:
                await conn.close()

    asyncio.run(main())


def test_files_travel_over_exec_channels_whole(tmp_path: Path) -> None:
    """put writes atomically (size and hash checked on arrival); get reads it back."""
    target = tmp_path / "root" / "sub" / "file.bin"
    data = bytes(range(256)) * 300

    async def main() -> None:
        async with lab(tmp_path) as server:
            server.trust()
            conn = connector(server.host())
            await conn.connect()
            try:
                await conn.put(data, str(target), 0o600)
                assert await conn.get(str(target)) == data
                await conn.symlink("file.bin", str(target.parent / "link"))
            finally:
                await conn.close()

    asyncio.run(main())
    assert target.read_bytes() == data and oct(target.stat().st_mode & 0o777) == "0o600"
    assert (target.parent / "link").resolve() == target


def test_an_unknown_key_is_refused_and_accept_new_adds_it(tmp_path: Path) -> None:
    async def main() -> None:
        async with lab(tmp_path) as server:
            with pytest.raises(ConnectError) as refused:
                await connector(server.host()).connect()
            assert refused.value.problem is Problem.HOST_KEY_UNKNOWN
            assert not refused.value.transient
            conn = connector(server.host(), accept_new=True)
            await conn.connect()
            await conn.close()
            assert str(server.port) in (tmp_path / "known_hosts").read_text()
            conn = connector(server.host())  # a new process: trusted from the file now
            await conn.connect()
            await conn.close()

    asyncio.run(main())


def test_a_changed_key_is_refused_even_with_accept_new(tmp_path: Path) -> None:
    async def main() -> None:
        async with lab(tmp_path) as server:
            server.trust(asyncssh.generate_private_key("ssh-ed25519"))
            with pytest.raises(ConnectError) as refused:
                await connector(server.host(), accept_new=True).connect()
            assert refused.value.problem is Problem.HOST_KEY_CHANGED

    asyncio.run(main())


def test_a_key_the_server_does_not_know_fails_authentication(tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(other))

    async def main() -> None:
        async with lab(tmp_path) as server:
            server.trust()
            with pytest.raises(ConnectError) as refused:
                await connector(server.host(identity=str(other))).connect()
            assert refused.value.problem is Problem.AUTH_FAILED

    asyncio.run(main())


def test_a_closed_port_is_refused_and_transient(tmp_path: Path) -> None:
    async def main() -> None:
        async with lab(tmp_path) as server:
            host = server.host()
        with pytest.raises(ConnectError) as refused:
            await connector(host).connect()
        assert refused.value.problem is Problem.CONN_REFUSED and refused.value.transient

    asyncio.run(main())


async def drop_mid_command(process: asyncssh.SSHServerProcess[bytes]) -> None:
    """Some output, then the connection itself goes away (a link cut mid-run)."""
    process.stdout.write(b"partial output\n")
    await asyncio.sleep(0.05)
    process.channel.get_connection().abort()


def test_a_connection_lost_mid_command_is_link_lost(tmp_path: Path) -> None:
    async def main() -> None:
        async with lab(tmp_path, drop_mid_command) as server:
            server.trust()
            conn = connector(server.host())
            await conn.connect()
            seen: list[bytes] = []
            with pytest.raises(LinkLost):
                await conn.run("follow", None, seen.append)
            assert b"".join(seen) == b"partial output\n"
            await conn.close()

    asyncio.run(main())
