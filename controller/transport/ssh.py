"""The `ssh` connector: one asyncssh connection per host, every command a channel on it.

Host keys are always checked against known_hosts (accept-new adds a first-contact key,
never a changed one); whatever connecting raises becomes a ConnectError with a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from controller.errors import one_line
from controller.options import ConnectOptions
from controller.report.problems import Problem
from controller.transport.connector import (
    CommandResult,
    ConnectError,
    ExecFiles,
    LinkLost,
    OnData,
)
from controller.transport.fastauth import SignsFirst, auth_behind_service_request, skip_none_probe
from controller.transport.shell import under_sh
from controller.transport.sshlib import asyncssh
from inventory import Host


class KnownHostsBook:
    """known_hosts files, parsed once per process, and the first-contact additions to them."""

    def __init__(self) -> None:
        self._parsed: dict[str, asyncssh.SSHKnownHosts] = {}

    @staticmethod
    def path_for(host: Host) -> str:
        """The inventory's known_hosts for this host, or the user's own."""
        return os.path.expanduser(host.known_hosts or "~/.ssh/known_hosts")

    def get(self, path: str) -> asyncssh.SSHKnownHosts:
        """The parsed file; an absent file trusts nothing (checking is never off)."""
        known = self._parsed.get(path)
        if known is None:
            try:
                known = asyncssh.read_known_hosts(path)
            except FileNotFoundError:
                known = asyncssh.import_known_hosts("")
            self._parsed[path] = known
        return known

    def has_entry(self, path: str, host: str, addr: str, port: int | None) -> bool:
        """True when the file names this host at all (so a new key means a changed key)."""
        trusted, cas, revoked, *_ = self.get(path).match(host, addr, port)
        return bool(trusted or cas or revoked)

    def add(self, path: str, host: str, port: int | None, key: asyncssh.SSHKey) -> None:
        """Append a first-contact key (OpenSSH's accept-new) and forget the parsed copy."""
        pattern = host if port in (None, 22) else f"[{host}]:{port}"
        algorithm, blob = key.export_public_key("openssh").decode().split()[:2]
        line = f"{pattern} {algorithm} {blob}\n"
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        self._parsed.pop(path, None)


class _Client(asyncssh.SSHClient):
    """Decides on host keys known_hosts does not trust: accept-new or refuse, and why."""

    def __init__(
        self,
        book: KnownHostsBook,
        path: str,
        accept_new: bool,
        signs_first: SignsFirst | None = None,
    ):
        self._book = book
        self._path = path
        self._accept_new = accept_new
        self.signs_first = signs_first or SignsFirst()  # read by fastauth's publickey handler
        self.refusal: Problem | None = None
        self.new_key: tuple[str, int | None, asyncssh.SSHKey] | None = None

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        skip_none_probe(conn)
        auth_behind_service_request(conn)

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        port_arg = None if port == 22 else port
        if self._book.has_entry(self._path, host, addr, port_arg):
            self.refusal = Problem.HOST_KEY_CHANGED  # never accept a changed key
            return False
        if not self._accept_new:
            self.refusal = Problem.HOST_KEY_UNKNOWN
            return False
        self.new_key = (host, port_arg, key)
        return True


def _feed(chan: asyncssh.SSHClientChannel[bytes], stdin: bytes | None) -> None:
    """Send stdin and EOF. A command that already exited (the guard's exit 97) has closed
    its channel: that is not a lost link; its exit status tells what happened."""
    with contextlib.suppress(OSError):  # BrokenPipeError, ConnectionError: a closed channel
        if stdin is not None:
            chan.write(stdin)
        chan.write_eof()


class _Session(asyncssh.SSHClientSession[bytes]):
    """Collects one channel's output without a stream reader in between."""

    def __init__(
        self,
        on_stdout: OnData | None,
        done: asyncio.Future[Exception | None],
        stdin: bytes | None,
    ):
        self._on_stdout = on_stdout
        self._done = done
        self._stdin = stdin
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.exit_status: int | None = None
        self.exit_signal: str | None = None

    def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:
        """The channel is open and asyncssh sends the exec request in this same step: stdin
        and EOF go right behind it, not one round trip later, after the server's reply
        (RFC 4254 lets data follow a request; a refused exec discards it)."""
        asyncio.get_running_loop().call_soon(_feed, chan, self._stdin)

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if datatype == asyncssh.EXTENDED_DATA_STDERR:
            self.stderr += data
        elif self._on_stdout is not None:
            self._on_stdout(data)
        else:
            self.stdout += data

    def exit_status_received(self, status: int) -> None:
        self.exit_status = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.exit_signal = signal

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._done.done():
            self._done.set_result(exc)


_TRANSIENT_ERRNOS = {
    errno.ECONNREFUSED: Problem.CONN_REFUSED,
    errno.ECONNRESET: Problem.CONN_RESET,
    errno.ETIMEDOUT: Problem.CONN_TIMEOUT,
    errno.EHOSTUNREACH: Problem.CONN_TIMEOUT,
    errno.ENETUNREACH: Problem.CONN_TIMEOUT,
}


def classify_connect_error(exc: BaseException, client: _Client | None, host: Host) -> ConnectError:
    """Turn whatever connecting raised into a ConnectError with an operator's reason."""
    where = f"{host.address}:{host.port or 22}"
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        if client is not None and client.refusal is Problem.HOST_KEY_CHANGED:
            msg = f"host key changed for {where}: possible man-in-the-middle; not connected"
            return ConnectError(msg, problem=Problem.HOST_KEY_CHANGED, transient=False)
        msg = f"unknown host key for {where} (not in known_hosts); not connected"
        return ConnectError(msg, problem=Problem.HOST_KEY_UNKNOWN, transient=False)
    if isinstance(exc, asyncssh.PermissionDenied):
        user = host.user or "the default user"
        msg = f"authentication failed for {user} at {where}"
        return ConnectError(msg, problem=Problem.AUTH_FAILED, transient=False)
    if isinstance(exc, socket.gaierror):
        msg = f"cannot resolve {host.address!r} (DNS): {exc.strerror or exc}"
        return ConnectError(msg, problem=Problem.DNS, transient=False)
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        msg = f"connection to {where} timed out"
        return ConnectError(msg, problem=Problem.CONN_TIMEOUT, transient=True)
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        problem = _TRANSIENT_ERRNOS[exc.errno]
        reason = {
            Problem.CONN_REFUSED: "connection refused by",
            Problem.CONN_RESET: "connection reset by",
        }.get(problem, "no route to")
        return ConnectError(f"{reason} {where}", problem=problem, transient=True)
    if isinstance(exc, asyncssh.ConnectionLost | ConnectionResetError):
        msg = f"connection reset by {where} during the SSH handshake"
        return ConnectError(msg, problem=Problem.CONN_RESET, transient=True)
    msg = one_line(f"ssh to {where} failed: {exc}")
    return ConnectError(msg, problem=Problem.SSH_ERROR, transient=False)


class KeyCache:
    """Identity files loaded once per process, not once per host."""

    def __init__(self) -> None:
        self._keys: dict[str, Sequence[asyncssh.SSHKeyPair]] = {}

    def get(self, path: str) -> Sequence[asyncssh.SSHKeyPair]:
        if path not in self._keys:
            self._keys[path] = asyncssh.load_keypairs([os.path.expanduser(path)])
        return self._keys[path]


PREFERRED_CIPHERS = "^aes128-gcm@openssh.com,aes256-gcm@openssh.com"


class SshConnector(ExecFiles):
    """One asyncssh connection per host, every command a channel on it."""

    def __init__(
        self, host: Host, options: ConnectOptions, book: KnownHostsBook, keys: KeyCache
    ) -> None:
        self.host = host
        self._options = options
        self._book = book
        self._keys = keys
        self._conn: asyncssh.SSHClientConnection | None = None

    def _connect_kwargs(self) -> dict[str, Any]:
        host = self.host
        kwargs: dict[str, Any] = {
            "connect_timeout": self._options.connect_timeout,
            "keepalive_interval": self._options.keepalive_interval,
            "keepalive_count_max": self._options.keepalive_count_max,
            # Parsed once per process; never None: host key checking is never off.
            "known_hosts": self._book.get(KnownHostsBook.path_for(host)),
            # AES-GCM first, then asyncssh's defaults: its chacha20-poly1305 costs the
            # controller about 40 us a packet against 7 (OpenSSL's AES-GCM), several ms
            # a host; both are what OpenSSH offers by default.
            "encryption_algs": PREFERRED_CIPHERS,
        }
        if host.port is not None:
            kwargs["port"] = host.port
        if host.user is not None:
            kwargs["username"] = host.user
        if host.identity is not None:
            # ssh-agent keys are still offered beside it (asyncssh keeps agent_path).
            kwargs["client_keys"] = self._keys.get(host.identity)
        return kwargs

    async def connect(self) -> None:
        path = KnownHostsBook.path_for(self.host)
        identity = self.host.identity
        signs_first = SignsFirst(self._keys.get(identity) if identity is not None else ())
        client = _Client(self._book, path, self._options.accept_new, signs_first)
        try:
            conn, _ = await asyncssh.create_connection(
                lambda: client, self.host.address, **self._connect_kwargs()
            )
        except Exception as exc:  # classified into a ConnectError: one host's data
            raise classify_connect_error(exc, client, self.host) from exc
        if client.new_key is not None:
            self._book.add(path, *client.new_key)
        self._conn = conn

    def _require(self) -> asyncssh.SSHClientConnection:
        if self._conn is None:
            raise LinkLost("not connected", host=self.host.name)
        return self._conn

    async def run(
        self, command: str, stdin: bytes | None = None, on_stdout: OnData | None = None
    ) -> CommandResult:
        conn = self._require()
        done: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        session = _Session(on_stdout, done, stdin)
        command = under_sh(command)  # whatever the user's login shell is
        try:
            await conn.create_session(lambda: session, command, encoding=None)
            exc = await done
        except (asyncssh.Error, OSError) as err:
            raise LinkLost(f"connection lost: {err}", host=self.host.name) from err
        if exc is not None:
            raise LinkLost(f"connection lost: {exc}", host=self.host.name) from exc
        if session.exit_status is None:
            if session.exit_signal is not None:
                return CommandResult(128 + 9, bytes(session.stdout), bytes(session.stderr))
            raise LinkLost("channel closed without an exit status", host=self.host.name)
        return CommandResult(session.exit_status, bytes(session.stdout), bytes(session.stderr))

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
