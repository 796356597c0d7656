"""The runner's Docker access check: the socket's permissions, said up front."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from remote.docker import access


def test_unreadable_socket_names_the_user_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A socket this user may not use: the message says who, which socket, what to do."""
    sock = tmp_path / "docker.sock"
    sock.touch()
    monkeypatch.setattr(access, "DOCKER_SOCKET", str(sock))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    monkeypatch.setattr(access, "user_name", lambda: "guest")
    problem = access.docker_problem(["docker", "compose"])
    assert problem is not None and access.NO_DOCKER_ACCESS in problem
    assert str(sock) in problem and "add guest to the docker group" in problem


def test_other_engines_and_remote_daemons_are_left_to_compose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """podman, DOCKER_HOST, no local socket, or a usable one: no problem raised here."""
    sock = tmp_path / "docker.sock"
    sock.touch()
    monkeypatch.setattr(access, "DOCKER_SOCKET", str(sock))
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert access.docker_problem(["podman", "compose"]) is None
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    assert access.docker_problem(["docker", "compose"]) is None
    monkeypatch.delenv("DOCKER_HOST")
    monkeypatch.setattr(access, "DOCKER_SOCKET", str(tmp_path / "absent.sock"))
    assert access.docker_problem(["docker", "compose"]) is None
