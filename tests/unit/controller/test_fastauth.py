"""fastauth against an in-process asyncssh server on loopback: fewer requests, same verdicts."""

from __future__ import annotations

import asyncio

import pytest

from controller.transport.fastauth import (
    FIRST_METHODS,
    SignsFirst,
    auth_behind_service_request,
    skip_none_probe,
)
from controller.transport.sshlib import asyncssh


def _key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


class _Server(asyncssh.SSHServer):
    """Accepts the keys in `good`; records every publickey request (query or signed)."""

    def __init__(self, good: list[asyncssh.SSHKey], needs_auth: bool = True) -> None:
        self.good = {key.public_data for key in good}
        self.needs_auth = needs_auth
        self.asked: list[bytes] = []

    def begin_auth(self, username: str) -> bool:
        return self.needs_auth

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        self.asked.append(key.public_data)
        return key.public_data in self.good


class _Client(asyncssh.SSHClient):
    def __init__(self, signs_first: SignsFirst) -> None:
        self.signs_first = signs_first

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        skip_none_probe(conn)
        auth_behind_service_request(conn)


async def _login(server: _Server, keys: list[asyncssh.SSHKey], vouched: int) -> None:
    host_key = _key()
    listener = await asyncssh.create_server(
        lambda: server, "127.0.0.1", 0, server_host_keys=[host_key]
    )
    port = listener.sockets[0].getsockname()[1]
    known = asyncssh.import_known_hosts(
        f"[127.0.0.1]:{port} {host_key.export_public_key().decode()}"
    )
    pairs = asyncssh.load_keypairs(keys)
    signs_first = SignsFirst(pairs[:vouched])
    try:
        conn, _ = await asyncssh.create_connection(
            lambda: _Client(signs_first), "127.0.0.1", port, username="u",
            known_hosts=known, client_keys=pairs, agent_path=None,
        )  # fmt: skip
        conn.close()
    finally:
        listener.close()


def test_the_vouched_key_is_sent_signed_once_without_a_none_probe() -> None:
    key = _key()
    server = _Server([key])
    asyncio.run(_login(server, [key], vouched=1))
    assert server.asked == [key.public_data]  # one signed request: no query before it


def test_a_key_not_vouched_for_is_queried_first_as_asyncssh_does() -> None:
    key = _key()
    server = _Server([key])
    asyncio.run(_login(server, [key], vouched=0))
    assert server.asked == [key.public_data, key.public_data]


def test_a_refused_signed_key_moves_on_to_the_next_key() -> None:
    refused, accepted = _key(), _key()
    server = _Server([accepted])
    asyncio.run(_login(server, [refused, accepted], vouched=2))
    assert server.asked == [refused.public_data, accepted.public_data]


def test_no_acceptable_key_is_a_clear_auth_failure() -> None:
    server = _Server([_key()])
    with pytest.raises(asyncssh.PermissionDenied):
        asyncio.run(_login(server, [_key()], vouched=1))


def test_a_server_that_needs_no_auth_still_lets_us_in() -> None:
    asyncio.run(_login(_Server([], needs_auth=False), [_key()], vouched=1))


def test_the_private_hooks_are_where_fastauth_expects_them() -> None:
    """asyncssh is pinned; this names what a new version must still have."""
    assert asyncssh.auth._client_auth_handlers[b"publickey"].__name__ == (
        "_SignedFirstPublicKeyAuth"
    )
    assert issubclass(
        asyncssh.auth._client_auth_handlers[b"publickey"], asyncssh.auth._ClientPublicKeyAuth
    )
    assert FIRST_METHODS[0] == b"publickey"
