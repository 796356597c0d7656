"""Authentication in one round trip where the protocol allows it (asyncssh 2.24, pinned).

asyncssh's client spends two exchanges before its real request: a `none` request to learn
the server's methods (RFC 4252 5.2 makes it optional), then, per key, a publickey request
without a signature asking whether the key would do (RFC 4252 7 makes that optional too).
On a 300 ms link that is 0.6 s on every command. Here:

- the first methods tried are `publickey`, then `none` (only reached when there is no key
  to offer): a server that refuses the key answers with its methods, exactly what the
  probe would have told, and asyncssh goes on from there as it always did;
- a key the inventory names (`identity:`) is sent signed at once. Any other key (an
  agent's, whose signing may ask its owner for a touch; ~/.ssh's defaults) is queried
  first, as before. A refused signed request is a USERAUTH_FAILURE like a refused query:
  the next key is tried, and with none left the connection fails with PermissionDenied.

Host keys and the server's decision are untouched: only requests we would have sent
anyway are sent sooner. The hooks are private to asyncssh, hence the pin in pyproject and
tests/unit/controller/test_fastauth.py, which fails on a version where they moved.
"""

from __future__ import annotations

from collections.abc import Iterable

from controller.transport.sshlib import asyncssh

_auth = asyncssh.auth
FIRST_METHODS = [b"publickey", b"none"]
USERAUTH_SERVICE = b"ssh-userauth"


class SignsFirst:
    """The public keys to send signed without asking first (the inventory's identity)."""

    def __init__(self, keys: Iterable[asyncssh.SSHKeyPair] = ()) -> None:
        self.public_data = frozenset(key.public_data for key in keys)

    def __contains__(self, key: asyncssh.SSHKeyPair) -> bool:
        return key.public_data in self.public_data


class _SignedFirstPublicKeyAuth(_auth._ClientPublicKeyAuth):
    """publickey auth that skips the query for a key its connection's owner vouches for."""

    async def _start(self) -> None:
        conn = self._conn
        self._keypair = await conn.public_key_auth_requested()
        if self._keypair is None:
            conn.try_next_auth(next_method=True)
            return
        signs_first = getattr(conn.get_owner(), "signs_first", None)
        if isinstance(signs_first, SignsFirst) and self._keypair in signs_first:
            await self._send_signed_request()
            return
        await self.send_request(
            asyncssh.packet.Boolean(False),
            asyncssh.packet.String(self._keypair.algorithm),
            asyncssh.packet.String(self._keypair.public_data),
        )


def install() -> None:
    """Put the signed-first handler in asyncssh's table of client methods (idempotent).
    Connections whose owner has no `signs_first` behave exactly as asyncssh's own."""
    _auth._client_auth_handlers[b"publickey"] = _SignedFirstPublicKeyAuth


def skip_none_probe(conn: asyncssh.SSHClientConnection) -> None:
    """From connection_made: try publickey before the `none` probe (see the docstring)."""
    conn._auth_methods = list(FIRST_METHODS)


def auth_behind_service_request(conn: asyncssh.SSHClientConnection) -> None:
    """From connection_made: start authenticating right after SERVICE_REQUEST instead of
    after SERVICE_ACCEPT, a round trip later. The host handles its packets in order, so the
    request it reads next is the one it has just set up for (OpenSSH, dropbear)."""
    send_service_request = conn.send_service_request

    def request_then_authenticate(service: bytes) -> None:
        send_service_request(service)
        if service == USERAUTH_SERVICE:
            conn.try_next_auth()
            conn.try_next_auth = skip_accepts_call  # type: ignore[method-assign]

    def skip_accepts_call(*, next_method: bool = False) -> None:
        if conn._next_service is None:  # SERVICE_ACCEPT's call: authentication is under way
            delattr(conn, "try_next_auth")
            return
        type(conn).try_next_auth(conn, next_method=next_method)

    conn.send_service_request = request_then_authenticate  # type: ignore[method-assign]


install()
