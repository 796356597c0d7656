"""The engine client against a real unix socket that answers badly: it never waits longer
than its one deadline, and a bad answer means "ask compose instead" (None)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from remote.docker import engine_api

Serve = Callable[[socket.socket], None]
REQUESTS: list[bytes] = []  # what the fixture's server was asked, in order


@pytest.fixture
def engine_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Serve], None]]:
    """A one-connection unix socket server at DOCKER_HOST, answering with `serve`."""
    path = tmp_path / "docker.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(2)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")

    def start(serve: Serve) -> None:
        def accept() -> None:
            conn, _ = server.accept()
            with conn:
                REQUESTS.append(conn.recv(4096))
                with contextlib.suppress(OSError):  # the client gave up: what tests want
                    serve(conn)

        threading.Thread(target=accept, daemon=True).start()

    yield start
    server.close()


def test_an_answer_is_decoded(engine_socket: Callable[[Serve], None]) -> None:
    engine_socket(lambda c: c.sendall(b'HTTP/1.0 200 OK\r\n\r\n{"Id": "sha256:ab"}'))
    assert engine_api.request("/images/x/json", timeout=5) == (200, {"Id": "sha256:ab"})


def test_a_trickling_engine_is_given_up_on_at_the_deadline(
    engine_socket: Callable[[Serve], None],
) -> None:
    """One byte every 50 ms would keep a per-recv timeout of 0.3 s happy for ever."""

    def trickle(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
        for _ in range(200):
            conn.sendall(b" ")
            time.sleep(0.05)

    engine_socket(trickle)
    start = time.monotonic()
    assert engine_api.request("/containers/json", timeout=0.3) == (None, None)
    assert time.monotonic() - start < 1.0


def test_a_silent_engine_and_no_engine_are_none(
    engine_socket: Callable[[Serve], None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine_socket(lambda c: time.sleep(2))
    start = time.monotonic()
    assert engine_api.request("/containers/json", timeout=0.3) == (None, None)
    assert time.monotonic() - start < 1.0
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'absent.sock'}")
    assert engine_api.request("/containers/json") == (None, None)


def test_a_tag_is_one_post_and_only_201_is_done(
    engine_socket: Callable[[Serve], None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`docker tag` without the CLI; any other answer (or no engine) sends the caller to
    the CLI."""
    engine_socket(lambda c: c.sendall(b"HTTP/1.0 201 Created\r\n\r\n"))
    assert engine_api.tag("sha256:ab", "fleet-release/web.app:0123abcd")
    assert REQUESTS[-1].startswith(
        b"POST /images/sha256:ab/tag?repo=fleet-release/web.app&tag=0123abcd HTTP/1.0\r\n"
    )
    engine_socket(lambda c: c.sendall(b'HTTP/1.0 404 Not Found\r\n\r\n{"message": "no"}'))
    assert not engine_api.tag("sha256:cd", "fleet-release/web.app:0123abcd")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'absent.sock'}")
    assert not engine_api.tag("sha256:cd", "fleet-release/web.app:0123abcd")
