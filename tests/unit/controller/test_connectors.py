"""Connection errors classified for the operator; known_hosts checked, never off."""

from __future__ import annotations

import asyncio
import errno
import socket
import subprocess
from pathlib import Path

import asyncssh
import pytest

from controller.report.problems import Problem
from controller.transport.local import LocalConnector
from controller.transport.shell import (
    HEREDOC_END,
    INLINE_INPUT_MAX,
    NO_RUNNER,
    inline_input,
    runner_command,
    runner_path,
)
from controller.transport.ssh import KnownHostsBook, _Client, classify_connect_error
from tests.unit.controller.fakes import make_host

HOST = make_host("h")


@pytest.mark.parametrize(
    ("exc", "problem", "transient", "words"),
    [
        (
            ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
            Problem.CONN_REFUSED,
            True,
            "refused",
        ),
        (TimeoutError(), Problem.CONN_TIMEOUT, True, "timed out"),
        (OSError(errno.EHOSTUNREACH, "no route"), Problem.CONN_TIMEOUT, True, "no route"),
        (socket.gaierror(-2, "Name or service not known"), Problem.DNS, False, "DNS"),
        (asyncssh.PermissionDenied("denied"), Problem.AUTH_FAILED, False, "authentication"),
        (
            asyncssh.HostKeyNotVerifiable("nope"),
            Problem.HOST_KEY_UNKNOWN,
            False,
            "unknown host key",
        ),
        (asyncssh.ConnectionLost("reset"), Problem.CONN_RESET, True, "reset"),
        (asyncssh.ProtocolError("weird"), Problem.SSH_ERROR, False, "failed"),
    ],
)
def test_connect_errors_are_classified(
    exc: BaseException, problem: Problem, transient: bool, words: str
) -> None:
    """Each connect failure gets a reason an operator acts on, and a retry verdict."""
    err = classify_connect_error(exc, None, HOST)
    assert err.problem is problem and err.transient is transient
    assert words in str(err)


def _key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


def test_unknown_key_refused_without_accept_new(tmp_path: Path) -> None:
    """No entry and no --accept-new: refused as unknown."""
    book = KnownHostsBook()
    client = _Client(book, str(tmp_path / "known_hosts"), accept_new=False)
    assert not client.validate_host_public_key("10.0.0.1", "10.0.0.1", 22, _key())
    assert client.refusal is Problem.HOST_KEY_UNKNOWN


def test_accept_new_adds_a_first_contact_key_only(tmp_path: Path) -> None:
    """--accept-new takes an unknown host's key and writes it; a changed key never."""
    path = str(tmp_path / "known_hosts")
    book = KnownHostsBook()
    key = _key()
    client = _Client(book, path, accept_new=True)
    assert client.validate_host_public_key("10.0.0.1", "10.0.0.1", 2222, key)
    assert client.new_key is not None
    book.add(path, *client.new_key)
    line = Path(path).read_text()
    assert line.startswith("[10.0.0.1]:2222 ssh-ed25519 ")
    assert book.has_entry(path, "10.0.0.1", "10.0.0.1", 2222)

    changed = _Client(book, path, accept_new=True)
    assert not changed.validate_host_public_key("10.0.0.1", "10.0.0.1", 2222, _key())
    assert changed.refusal is Problem.HOST_KEY_CHANGED
    err = classify_connect_error(asyncssh.HostKeyNotVerifiable("x"), changed, HOST)
    assert err.problem is Problem.HOST_KEY_CHANGED and "changed" in str(err)


def test_missing_known_hosts_trusts_nothing(tmp_path: Path) -> None:
    """An absent known_hosts file is an empty trust list, never `None` (checking off)."""
    known = KnownHostsBook().get(str(tmp_path / "absent"))
    assert known is not None
    assert known.match("h", "10.0.0.1", None)[0] == []


def test_runner_command_quotes_every_word() -> None:
    """The guard lines of internals.md, with hostile words quoted."""
    cmd = runner_command("/opt/home lab", "ab" * 32, ["start", "--root", "/x;rm -rf /"])
    first, second = cmd.splitlines()
    assert first.startswith(
        "test -f '/opt/home lab/.fleet/fleet-runner-abababababababab.d/__main__.py' && exec "
    )
    assert second.startswith("test -f '/opt/home lab/.fleet/fleet-runner-abababababababab.pyz' ||")
    assert "|| exit 97; exec python3 " in second
    assert all(line.endswith(" start --root '/x;rm -rf /'") for line in (first, second))


def test_runner_command_prefers_the_unpacked_copy(tmp_path: Path) -> None:
    """Run by sh: exit 97 without an archive; the archive while it is not unpacked yet;
    the unpacked copy once there."""
    root, sha = str(tmp_path / "R"), "cd" * 32
    archive = Path(runner_path(root, sha))
    unpacked = archive.with_suffix(".d") / "__main__.py"

    def run() -> subprocess.CompletedProcess[str]:
        command = runner_command(root, sha, ["status", "it's"])
        return subprocess.run(["sh", "-c", command], capture_output=True, text=True)

    assert run().returncode == NO_RUNNER
    archive.parent.mkdir(parents=True)
    archive.write_text("import sys; print('archive', sys.argv[1:])")
    assert run().stdout == "archive ['status', \"it's\"]\n"
    unpacked.parent.mkdir()
    unpacked.write_text("import sys; print('unpacked', sys.argv[1:])")
    assert run().stdout == "unpacked ['status', \"it's\"]\n"


def test_runner_command_gives_small_input_as_a_here_document(tmp_path: Path) -> None:
    """A one-line plan rides inside the command; the shell expands nothing in it, and
    both guard lines (and the exit 97) keep working."""
    root, sha = str(tmp_path / "R"), "ef" * 32
    plan = b'{"a": "$(touch /tmp/x) `id` \\\\ $HOME \'q\' FLEET_INPUT_END"}'
    command = runner_command(root, sha, ["start", "--plan", "-"], plan)
    run = lambda: subprocess.run(["sh", "-c", command], capture_output=True)  # noqa: E731
    assert run().returncode == NO_RUNNER
    archive = Path(runner_path(root, sha))
    archive.parent.mkdir(parents=True)
    archive.write_text("import sys; sys.stdout.write(sys.stdin.read())")
    assert run().stdout == plan + b"\n"
    for unfit in (b"x" * (INLINE_INPUT_MAX + 1), b"a\nb", "é".encode(), HEREDOC_END.encode()):
        assert not inline_input(unfit)
    assert inline_input(plan) and not inline_input(None)


def test_local_connector_runs_streams_and_writes_atomically(tmp_path: Path) -> None:
    """`connection: local`: the same surface over /bin/sh and the local filesystem."""

    async def go() -> None:
        conn = LocalConnector(make_host("me"))
        await conn.connect()
        chunks: list[bytes] = []
        res = await conn.run("cat; echo err >&2; exit 3", b"hello\n", chunks.append)
        assert res.exit_status == 3 and b"".join(chunks) == b"hello\n" and res.stderr == b"err\n"
        early = await conn.run("exit 97", b"x" * 1_000_000)
        assert early.exit_status == 97
        await conn.put(b"data", str(tmp_path / "d" / "f"))
        await conn.symlink("f", str(tmp_path / "d" / "link"))
        assert await conn.get(str(tmp_path / "d" / "link")) == b"data"
        await conn.close()

    asyncio.run(go())
