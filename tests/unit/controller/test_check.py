"""`fleet check`: the probe's framing, its answers judged, and the fixes it names."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

from controller.check.judge import judge, ssh_fix
from controller.check.probe import new_marker, parse_probe, probe_script
from controller.report.problems import Problem
from remote.protocol import no_checkout
from tests.unit.controller.fakes import make_host

MARK = "--- fleet-check-0123456789abcdef"


def framed(body: str, marker: str = MARK) -> str:
    return f"{marker} begin\n{body}{marker} end\n"


GOOD = f"""\
{MARK} item user 0
deploy
{MARK} item python3 0
Python 3.11.2
{MARK} item root writable
/opt/homelab
{MARK} item disk 0
Filesystem 1024-blocks Used Available Capacity Mounted on
/dev/sda1 100000000 2000000 52428800 4% /
{MARK} item docker 0
27.5.1
{MARK} item compose 0
v2.40.3
{MARK} item git 0
/usr/bin/git
"""


def test_a_login_banner_before_and_around_the_probe_is_ignored() -> None:
    """Lines before `begin` (a banner, even one faking items) and after `end` do not count."""
    fake = "--- fleet-check-ffff item python3 0\nPython 2.7\n"
    output = "Welcome to the NAS!\n" + fake + framed(GOOD) + "bye\n"
    answers = parse_probe(output, MARK)
    assert answers is not None
    assert answers["python3"].text == "Python 3.11.2"
    assert answers["disk"].text.endswith("/")


def test_a_probe_without_its_end_marker_is_not_an_answer() -> None:
    """A probe cut short (killed, link lost) is reported, never half-judged."""
    assert parse_probe(f"{MARK} begin\n{MARK} item python3 0\nPython 3.11\n", MARK) is None


def test_a_good_host_passes_every_item() -> None:
    """Version numbers and free space are what the table shows."""
    answers = parse_probe(framed(GOOD), MARK)
    assert answers is not None
    checks = judge(make_host("nas"), answers)
    assert all(c.ok for c in checks.values()), checks
    assert checks["python3"].detail == "3.11.2"
    assert checks["compose"].detail == "2.40.3"
    assert checks["disk"].detail == "50.0 GiB free on /"


def test_each_failure_names_its_fix() -> None:
    """Old python, unwritable root, no Docker access, absent compose, no git: each fix is a
    command the operator can run."""
    bad = f"""\
{MARK} item user 0
deploy
{MARK} item python3 0
Python 3.6.9
{MARK} item root readonly
/opt
{MARK} item disk 0
Filesystem 1024-blocks Used Available Capacity Mounted on
/dev/sda1 100000 99000 1000 99% /
{MARK} item docker 1
permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock
{MARK} item compose 127
sh: 1: docker-compose: not found
{MARK} item git 127
"""
    answers = parse_probe(framed(bad), MARK)
    assert answers is not None
    checks = judge(make_host("nas"), answers)
    assert not any(c.ok for c in checks.values())
    assert "sudo apt install python3" in (checks["python3"].fix or "")
    assert "sudo chown deploy /opt/homelab" in (checks["root"].fix or "")
    assert "docker system prune" in (checks["disk"].fix or "")
    assert checks["docker"].fix is not None
    assert "sudo usermod -aG docker deploy" in checks["docker"].fix
    assert "compose_command" in (checks["compose"].fix or "")
    assert "source: push" in (checks["git"].fix or "")


def test_git_is_asked_only_where_the_source_is_git() -> None:
    """A push host never runs git, so the probe does not look for it and judge skips it."""
    host = dataclasses.replace(make_host("pi"), source="push")
    assert "command -v git" not in probe_script(host, MARK)
    answers = parse_probe(framed(GOOD), MARK)
    assert answers is not None
    assert "git" not in judge(host, answers)


def test_a_git_host_without_a_checkout_fails_git_with_the_clone_or_push_fix() -> None:
    """git is there but R/repo has neither .git nor services/: the item fails in the words
    prepare would fail with; a checkout or a plain folder of services passes."""
    host = make_host("nas")
    for code, ok in (("git", True), ("plain", True), ("none", False)):
        answers = parse_probe(framed(GOOD + f"{MARK} item repo {code}\n"), MARK)
        assert answers is not None
        item = judge(host, answers)["git"]
        assert item.ok is ok, (code, item)
    assert item.detail == no_checkout("/opt/homelab/repo")
    assert item.short == "no checkout"
    assert "`git clone URL /opt/homelab/repo`" in (item.fix or "")
    assert "source: push" in (item.fix or "")


def test_the_probe_finds_a_checkout_a_plain_folder_or_none(tmp_path: Path) -> None:
    """Run by sh: R/repo/.git is a checkout, R/repo/services a plain folder, else none;
    a repo path with a space and a quote is one word."""
    repo = tmp_path / "it's the repo"
    host = dataclasses.replace(make_host("here"), repo=str(repo), compose_command=("true",))
    seen = []
    for make in (None, repo / "services", repo / ".git"):
        if make is not None:
            make.mkdir(parents=True)
        marker = new_marker()
        out = subprocess.run(
            ["sh", "-c", probe_script(host, marker)], capture_output=True, text=True, timeout=60
        )
        answers = parse_probe(out.stdout, marker)
        assert answers is not None, out
        seen.append(answers["repo"].code)
    assert seen == ["none", "plain", "git"]


def test_ssh_fixes_give_the_exact_command() -> None:
    """An unknown key: --accept-new or ssh-keyscan; a changed one: ssh-keygen -R."""
    host = make_host("nas")
    unknown = ssh_fix(Problem.HOST_KEY_UNKNOWN, host, "lab.yml")
    assert "fleet check -i lab.yml --hosts nas --accept-new" in unknown
    assert "ssh-keyscan -p 22 nas.lan >> ~/.ssh/known_hosts" in unknown
    assert "ssh-keygen -R 'nas.lan'" in ssh_fix(Problem.HOST_KEY_CHANGED, host)


def test_the_probe_runs_in_a_posix_sh_and_quotes_the_root_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The script itself, run by dash/sh: a root with a space and a quote is one word, an
    absent root is judged by its nearest parent, and the output parses."""
    root = tmp_path / "it's a root" / "deeper"
    host = dataclasses.replace(make_host("here"), root=str(root), compose_command=("true",))
    marker = new_marker()
    out = subprocess.run(
        ["sh", "-c", probe_script(host, marker)], capture_output=True, text=True, timeout=60
    )
    answers = parse_probe(out.stdout, marker)
    assert answers is not None, out
    assert answers["root"].code == "writable"
    assert answers["root"].text == str(tmp_path)
    assert list(tmp_path.iterdir()) == []  # the temp file is gone again


def test_docker_socket_answers_from_sh_builtins() -> None:
    """The socket fast path: usable is ok; not writable names the usermod fix."""
    for code, ok in (("socket", True), ("nosocket", False)):
        body = GOOD.replace(
            f"{MARK} item docker 0\n27.5.1\n", f"{MARK} item docker {code}\n/var/run/docker.sock\n"
        )
        answers = parse_probe(framed(body), MARK)
        assert answers is not None
        docker = judge(make_host("nas"), answers)["docker"]
        assert docker.ok is ok
        assert ok or "sudo usermod -aG docker deploy" in (docker.fix or "")
