"""`fleet check`'s compose cache: the probe runs the plugin only when its binary changed.

The probe is run for real by sh here, with a plugin in $HOME/.docker/cli-plugins that is
an ELF binary whose answer the test controls: a copy of /bin/sh, which runs the script
`version` from its working folder (`docker-compose version --short`), and that script
logs each call.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from controller.check.cache import CheckCache, ComposeSeen
from controller.check.judge import judge
from controller.check.probe import Answer, new_marker, parse_probe, probe_script
from controller.check.run import HostCheck, update_cache
from inventory import Host
from tests.unit.controller.fakes import make_host

VERSION_SCRIPT = 'echo called >> calls\necho "v{version}"\n'


class Plugin:
    """A home with an ELF compose plugin whose version and calls the test sees."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / ".docker" / "cli-plugins" / "docker-compose"
        self.path.parent.mkdir(parents=True)
        shutil.copy(os.path.realpath("/bin/sh"), self.path)
        self.set_version("2.77.1")

    def set_version(self, version: str) -> None:
        (self.home / "version").write_text(VERSION_SCRIPT.format(version=version))

    @property
    def calls(self) -> int:
        log = self.home / "calls"
        return len(log.read_text().splitlines()) if log.exists() else 0

    def probe(self, host: Host, known: ComposeSeen | None) -> dict[str, Answer]:
        marker = new_marker()
        out = subprocess.run(
            ["sh", "-c", probe_script(host, marker, known)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.home,
            env={**os.environ, "HOME": str(self.home)},
        )
        answers = parse_probe(out.stdout, marker)
        assert answers is not None, out
        return answers


def checked(host: Host, answers: dict[str, Answer], known: ComposeSeen | None) -> HostCheck:
    return HostCheck(host.name, checks=judge(host, answers, known), answers=answers)


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return dataclasses.replace(make_host("nas"), root=str(tmp_path / "root"))


def test_the_plugin_runs_once_then_only_when_its_binary_changes(tmp_path: Path, host: Host) -> None:
    """First check: the plugin answers and is remembered. Second: answered from the cache
    (the binary did not run). After a touch (same content, new mtime and ctime) and after
    a replacement by a new file, it runs again and the new answer is what counts."""
    plugin = Plugin(tmp_path / "home")
    cache = CheckCache(tmp_path / "state" / "check-cache.json")

    first = plugin.probe(host, cache.known(host))
    assert (first["plugin"].code, first["compose"].code) == ("elf", "0")
    assert plugin.calls == 1
    update_cache(cache, host, checked(host, first, None), 1000.0)
    cache.save()

    cache = CheckCache(tmp_path / "state" / "check-cache.json")  # a later `fleet check`
    known = cache.known(host)
    assert known is not None and known.version == "v2.77.1"
    assert known.binary.endswith(str(plugin.path))
    second = plugin.probe(host, known)
    assert second["compose"].code == "cached" and "plugin" not in second
    assert plugin.calls == 1
    item = judge(host, second, known)["compose"]
    assert item.ok and item.short == "2.77.1" and "unchanged" in item.detail

    os.utime(plugin.path)
    third = plugin.probe(host, known)
    assert third["compose"].code == "0" and plugin.calls == 2

    plugin.set_version("2.78.0")
    fresh = plugin.path.with_name("new")
    shutil.copy(os.path.realpath("/bin/sh"), fresh)
    fresh.replace(plugin.path)  # as a package upgrade does: a new file renamed over
    fourth = plugin.probe(host, known)
    assert fourth["compose"].code == "0" and fourth["compose"].text == "v2.78.0"
    assert plugin.calls == 3
    update_cache(cache, host, checked(host, fourth, known), 2000.0)
    now = cache.known(host)
    assert now is not None and now.version == "v2.78.0" and now.binary != known.binary


def test_a_plugin_no_longer_executable_or_gone_is_never_answered_from_the_cache(
    tmp_path: Path, host: Host
) -> None:
    """The probe does not find it, so there is nothing to compare: it asks what docker
    would use instead (another plugin folder, or `docker compose`)."""
    plugin = Plugin(tmp_path / "home")
    cache = CheckCache(None)
    update_cache(cache, host, checked(host, plugin.probe(host, None), None), 1000.0)
    known = cache.known(host)
    assert known is not None
    plugin.path.chmod(0o644)
    assert plugin.probe(host, known)["compose"].code != "cached"
    plugin.path.unlink()
    assert plugin.probe(host, known)["compose"].code != "cached"
    assert plugin.calls == 1


def test_a_script_plugin_is_asked_every_time(tmp_path: Path, host: Host) -> None:
    """A wrapper's answer depends on what it runs, which its own identity does not show."""
    plugin = Plugin(tmp_path / "home")
    plugin.path.write_text('#!/bin/sh\necho called >> "$HOME/calls"\necho v2.77.1\n')
    cache = CheckCache(None)
    answers = plugin.probe(host, None)
    assert answers["plugin"].code == "other"
    update_cache(cache, host, checked(host, answers, None), 1000.0)
    assert cache.known(host) is None


def test_a_failed_answer_is_forgotten_and_an_unreachable_host_keeps_its_entry(
    host: Host,
) -> None:
    """A binary that stops answering is asked again next time; a host the check did not
    reach said nothing about its binary."""
    cache = CheckCache(None)
    ident = "1 2 3 2026-01-01 00:00:00.000000000 +0000 x /p"
    cache.remember(host, ident, "v2.40.3", 1000.0)
    update_cache(cache, host, HostCheck(host.name, status="unreachable"), 2000.0)
    assert cache.known(host) is not None
    failed = {"plugin": Answer("elf", (ident,)), "compose": Answer("2", ("segfault",))}
    update_cache(cache, host, checked(host, failed, None), 2000.0)
    assert cache.known(host) is None


def test_an_answer_is_only_good_for_the_address_and_user_it_was_seen_under(
    tmp_path: Path, host: Host
) -> None:
    path = tmp_path / "check-cache.json"
    cache = CheckCache(path)
    cache.remember(host, "1 2 3 t t /p", "v2.40.3", 1000.0)
    cache.save()
    assert CheckCache(path).known(host) is not None
    assert CheckCache(path).known(dataclasses.replace(host, address="10.0.0.9")) is None
    assert CheckCache(path).known(dataclasses.replace(host, user="other")) is None
    assert CheckCache(path).known(dataclasses.replace(host, name="other")) is None


def test_save_merges_with_what_another_check_wrote_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "check-cache.json"
    a, b = make_host("a"), make_host("b")
    mine, theirs = CheckCache(path), CheckCache(path)
    mine.remember(a, "1 2 3 t t /p", "v1", 1.0)
    theirs.remember(b, "4 5 6 t t /p", "v2", 2.0)
    theirs.save()
    mine.save()
    again = CheckCache(path)
    assert again.known(a) is not None and again.known(b) is not None


def test_a_broken_or_unwritable_cache_file_is_an_empty_cache(tmp_path: Path) -> None:
    """Never an error of `fleet check`: the plugin is just asked again."""
    host = make_host("a")
    path = tmp_path / "check-cache.json"
    for text in ("{not json", "[]", json.dumps({"format": 99, "compose": {}})):
        path.write_text(text)
        assert CheckCache(path).known(host) is None
    entry = {"address": host.address, "port": host.port, "user": host.user, "version": "v1"}
    path.write_text(json.dumps({"format": 1, "compose": {"a": {**entry, "binary": 5}}}))
    assert CheckCache(path).known(host) is None
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    cache = CheckCache(blocked / "check-cache.json")  # its folder is a file
    cache.remember(host, "1 2 3 t t /p", "v1", 1.0)
    cache.save()


def test_the_cached_identity_is_quoted_once(tmp_path: Path, host: Host) -> None:
    """A cache file edited to hold shell code is a string the probe compares, never runs."""
    plugin = Plugin(tmp_path / "home")
    evil = ComposeSeen(
        host.address, host.port, host.user, "x'$(touch pwned)'`touch pwned`", "v1", 1.0
    )
    answers = plugin.probe(host, evil)
    assert answers["compose"].code == "0"
    assert not (plugin.home / "pwned").exists()


def test_a_cached_answer_the_controller_does_not_hold_is_not_a_pass(host: Host) -> None:
    """The probe only answers `cached` to an identity it was sent; anything else fails."""
    answers = {"compose": Answer("cached", ("1 2 3 t t /p",))}
    assert not judge(host, answers, None)["compose"].ok
    other = ComposeSeen(host.address, host.port, host.user, "9 9 9 t t /p", "v1", 1.0)
    assert not judge(host, answers, other)["compose"].ok


def test_only_the_plugin_itself_is_cached(tmp_path: Path, host: Host) -> None:
    """Another compose_command is asked every time: no identity is compared for it."""
    known = ComposeSeen(host.address, host.port, host.user, "1 2 3 t t /p", "v1", 1.0)
    custom = dataclasses.replace(host, compose_command=("docker-compose",))
    assert "cached" not in probe_script(custom, new_marker(), known)
