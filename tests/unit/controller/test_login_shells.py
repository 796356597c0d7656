"""Commands run under sh whatever the login shell; check finds docker as the runner does
(issue #25)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from controller.check.judge import judge
from controller.check.probe import Answer
from controller.transport.shell import runner_command, under_sh
from inventory import Host

SCRIPT = """printf '%s\\n' "a 'q' \\\\ $((1 + 2)) `echo tick` !5 \\\\'1"
{ echo grouped; } <<'END'
{"x": "y\\\\z", "n": "$x"}
END
cat <<'END'
{"x": "y\\\\z", "n": "$x"}
END
"""
SHELLS = ["/bin/sh", "bash", "fish", "tcsh", "zsh"]


@pytest.mark.parametrize("shell", SHELLS)
def test_a_command_means_the_same_under_every_login_shell(shell: str) -> None:
    """sshd runs `SHELL -c COMMAND`: each shell hands the script to sh unchanged."""
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed (scripts/world.sh installs it)")
    expected = subprocess.run(["/bin/sh", "-c", SCRIPT], capture_output=True, check=True)
    for command in (SCRIPT, runner_command("/opt/homelab", "ab" * 32, ["run"], b'{"a": "$b"}')):
        seen = subprocess.run([shell, "-c", under_sh(command)], capture_output=True)
        wanted = subprocess.run(["/bin/sh", "-c", command], capture_output=True)
        assert (seen.returncode, seen.stdout) == (wanted.returncode, wanted.stdout)
    assert expected.stdout.startswith(b"a 'q' \\ 3 tick !5 \\'1\ngrouped\n{\"x\"")


def test_check_says_docker_is_nowhere_with_the_path_and_the_key() -> None:
    host = Host(name="nas", services=("a",))
    answers = {"docker": Answer("missing", ("/usr/bin:/bin",))}
    item = judge(host, answers)["docker"]
    assert not item.ok and item.detail == "docker not found on PATH (/usr/bin:/bin)"
    assert item.fix is not None and "compose_command: [/abs/path/docker, compose]" in item.fix


def test_check_says_sudo_wants_a_password_with_the_sudoers_line() -> None:
    host = Host(name="nas", user="ann", services=("a",), become="sudo")
    answers = {"docker": Answer("1", ("/usr/bin/docker", "sudo: a password is required"))}
    item = judge(host, answers)["docker"]
    assert not item.ok and item.detail == "sudo needs a password"
    assert item.fix == "add `ann ALL=(root) NOPASSWD: /usr/bin/docker` to /etc/sudoers.d/"


def test_logs_asks_the_runner_for_sudo_under_become() -> None:
    from controller.logs import make_request, runner_args

    request = make_request("web", "10", None, False)
    host = Host(name="nas", services=("web",), become="sudo")
    assert runner_args(host, request)[-2:] == ["--become", "sudo"]
    assert "--become" not in runner_args(Host(name="nas", services=("web",)), request)
