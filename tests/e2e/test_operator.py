"""Operator commands end to end: check, logs, completion, against real sshd hosts and Docker."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from remote.protocol import no_checkout
from tests.e2e.support import Fleet
from tests.lab import BUSYBOX_IMAGE, Lab

MakeLab = Callable[[Iterable[str]], Lab]

pytestmark = pytest.mark.e2e

SECRET = "h18-planted-secret-4f1c"

# Ten numbered lines, then the secret as the container sees it from the host's .env.
ECHO_COMPOSE = f"""\
services:
  app:
    image: {BUSYBOX_IMAGE}
    pull_policy: never
    environment:
      - TOKEN=${{TOKEN}}
    command:
      - sh
      - -c
      - for i in 1 2 3 4 5 6 7 8 9 10; do echo line $$i; done; echo token=$$TOKEN; exec sleep 3600
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "/bin/true"]
      interval: 1s
      retries: 2
"""


def test_check_names_the_bad_host_its_failed_items_and_their_fixes(
    make_lab: MakeLab, tmp_path: Path
) -> None:
    """One good host passes; a host whose root is a file and whose compose is absent fails
    (exit 1) with those two items named and a fix for each, over one connection each."""
    lab = make_lab(["good", "bad"])
    (lab.hosts["good"].root_dir / "repo" / "services").mkdir(parents=True)
    (lab.hosts["bad"].root_dir / "notadir").write_text("a file where the root should be\n")
    inventory = lab.write_inventory(
        tmp_path / "hosts.yml",
        services={"good": ["h18-a"], "bad": ["h18-b"]},
        bad={"root": "/opt/homelab/notadir", "compose_command": ["h18-no-such-compose"]},
    )
    fleet = Fleet(tmp_path / "state", inventory)

    result = fleet("check", "--json")
    assert result.code == 1, result.stderr
    hosts = result.report["hosts"]
    assert hosts["good"]["status"] == "ok", hosts["good"]
    assert all(item["ok"] for item in hosts["good"]["checks"].values())
    assert set(hosts["good"]["checks"]) == {
        "ssh", "python3", "root", "disk", "docker", "compose", "git",
    }  # fmt: skip
    bad = hosts["bad"]
    assert bad["status"] == "failed"
    assert bad["checks"]["ssh"]["ok"] and bad["checks"]["docker"]["ok"]
    assert not bad["checks"]["root"]["ok"] and "sudo mv" in bad["checks"]["root"]["fix"]
    assert not bad["checks"]["compose"]["ok"]
    assert "h18-no-such-compose" in bad["checks"]["compose"]["detail"]
    assert "compose_command" in bad["checks"]["compose"]["fix"]

    table = fleet("check")
    assert table.code == 1
    assert "bad root:" in table.stdout and "fix:" in table.stdout
    assert "1/2 hosts ready" in table.stdout


def test_a_git_host_nobody_cloned_to_fails_check_and_prepare_in_the_same_words(
    make_lab: MakeLab, tmp_path: Path
) -> None:
    """A `source: git` host without R/repo: check fails its git item saying to clone there
    or use source: push, and a deploy fails at prepare with those words (not validate's
    "no compose.yaml")."""
    lab = make_lab(["noclone"])
    inventory = lab.write_inventory(tmp_path / "hosts.yml", services={"noclone": ["h31-a"]})
    fleet = Fleet(tmp_path / "state", inventory)
    repo = "/opt/homelab/repo"

    check = fleet("check", "--json")
    assert check.code == 1, check.stderr
    git = check.host("noclone")["checks"]["git"]
    assert not git["ok"] and git["detail"] == no_checkout(repo), git
    assert f"git clone URL {repo}" in git["fix"] and "source: push" in git["fix"]

    deploy = fleet("deploy", "--json")
    assert deploy.code == 1, deploy.stderr
    host = deploy.host("noclone")
    assert host["failed_stage"] == "prepare", host
    assert no_checkout(repo) in host["error"] and "compose.yaml" not in host["error"]


def _elf_plugin(home: Path, version: str) -> Path:
    """An ELF compose plugin in the host's ~/.docker/cli-plugins whose answer the test
    controls: a copy of /bin/sh runs `version` from the session's folder (the home), and
    that script logs each call to ~/calls. Put in place as a package upgrade does."""
    folder = home / ".docker" / "cli-plugins"
    folder.mkdir(parents=True, exist_ok=True)
    (home / "version").write_text(f'echo called >> calls\necho "v{version}"\n')
    fresh = folder / "docker-compose.new"
    shutil.copy(os.path.realpath("/bin/sh"), fresh)
    fresh.replace(folder / "docker-compose")
    return folder / "docker-compose"


def _calls(home: Path) -> int:
    log = home / "calls"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_check_runs_the_compose_plugin_again_only_when_its_binary_changed(
    make_lab: MakeLab, tmp_path: Path
) -> None:
    """Over real sshd: the first check runs the plugin and the controller keeps its answer;
    the next one does not run it; a replaced binary is run and its new version shown; one
    no longer executable is never answered for (the system plugin answers instead)."""
    lab = make_lab(["cached"])
    (lab.hosts["cached"].root_dir / "repo" / "services").mkdir(parents=True)
    home = lab.hosts["cached"].sshd_dir / "home"
    plugin = _elf_plugin(home, "2.77.1")
    inventory = lab.write_inventory(tmp_path / "hosts.yml", services={"cached": ["h18-d"]})
    fleet = Fleet(tmp_path / "state", inventory)

    def compose() -> dict[str, Any]:
        result = fleet("check", "--json")
        assert result.code == 0, result.stdout + result.stderr
        return result.host("cached")["checks"]["compose"]  # type: ignore[no-any-return]

    assert compose() == {"ok": True, "detail": "2.77.1", "fix": None}
    assert _calls(home) == 1
    assert (tmp_path / "state" / "fleet" / "check-cache.json").is_file()
    cached = compose()
    assert (
        cached["ok"] and cached["detail"].startswith("2.77.1 (") and "unchanged" in cached["detail"]
    )
    assert _calls(home) == 1  # answered from the cache: the binary did not run

    _elf_plugin(home, "2.78.0")
    assert compose()["detail"] == "2.78.0"
    assert _calls(home) == 2
    assert compose()["detail"].startswith("2.78.0 (")
    assert _calls(home) == 2

    plugin.chmod(0o644)
    system = compose()
    assert system["ok"] and not system["detail"].startswith("2.78.0")
    assert "unchanged" not in system["detail"]
    assert _calls(home) == 2


def test_check_of_a_host_with_an_unknown_key_says_how_to_trust_it(
    make_lab: MakeLab, tmp_path: Path
) -> None:
    """A host missing from known_hosts is unreachable, and the fix names --accept-new."""
    lab = make_lab(["stranger"])
    inventory = lab.write_inventory(
        tmp_path / "hosts.yml",
        services={"stranger": ["h18-c"]},
        stranger={"known_hosts": str(tmp_path / "empty_known_hosts")},
    )
    result = Fleet(tmp_path / "state", inventory)("check", "--json")
    assert result.code == 1
    entry = result.host("stranger")
    assert entry["status"] == "unreachable"
    assert "--accept-new" in entry["checks"]["ssh"]["fix"]
    assert "ssh-keyscan" in entry["checks"]["ssh"]["fix"]


def test_logs_of_a_service_are_compose_lines_with_the_env_secret_masked(
    make_lab: MakeLab, tmp_path: Path
) -> None:
    """`fleet logs HOST SVC --tail 5` shows the container's last lines, the .env value as
    ***; `fleet logs HOST` shows the host's last run log."""
    lab = make_lab(["nas"])
    lab.add_service("nas", "h18-echo", compose=ECHO_COMPOSE, env=f"TOKEN={SECRET}\n")
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))
    deployed = fleet("deploy", "--json")
    assert deployed.code == 0, deployed.stdout + deployed.stderr

    shown = fleet("logs", "nas", "h18-echo", "--tail", "5")
    assert shown.code == 0, shown.stderr
    lines = [line for line in shown.stdout.splitlines() if line.strip()]
    assert len(lines) == 5, shown.stdout
    assert any("line 10" in line for line in lines)
    assert any("token=***" in line for line in lines), shown.stdout
    assert SECRET not in shown.stdout + shown.stderr

    # --follow streams until Ctrl-C; then the host's compose logs ends too (the channel
    # closed), nothing is left running there.
    # Ctrl-C as at a terminal: a shell's background job (CI run with `&`, nohup) inherits
    # SIGINT ignored, and Python keeps it ignored, so restore the default for the child.
    following = subprocess.Popen(
        fleet.argv("logs", "nas", "h18-echo", "--follow", "--tail", "1"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**fleet.env, "PYTHONFAULTHANDLER": "1"},  # SIGABRT prints every thread's stack
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        assert following.stdout is not None
        assert "token=***" in following.stdout.readline().decode()
        following.send_signal(signal.SIGINT)
        try:
            code = following.wait(timeout=30)
        except subprocess.TimeoutExpired:
            following.send_signal(signal.SIGABRT)
            _, err = following.communicate(timeout=10)
            pytest.fail("fleet logs --follow outlived Ctrl-C by 30 s:\n" + err.decode())
        assert code == 0
    finally:
        following.kill()
        following.communicate()
    assert wait_until(lambda: not _compose_logs_running("h18-echo"), 10), "compose logs left"

    run_log = fleet("logs", "nas")
    assert run_log.code == 0, run_log.stderr
    assert '"event":"run_completed"' in run_log.stdout
    assert "/opt/homelab/logs/deploy/deploy_" in run_log.stderr

    lab.stop_sshd("nas")
    recorded = fleet("logs", "nas", "--tail", "all")
    assert recorded.code == 1
    assert "recorded on this controller" in recorded.stderr
    assert '"event":"run_completed"' in recorded.stdout


def _compose_logs_running(project: str) -> bool:
    found = subprocess.run(["pgrep", "-f", f"-p {project} .*logs"], capture_output=True)
    return found.returncode == 0


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_show_completion_prints_a_script_and_hosts_complete_from_the_inventory(
    tmp_path: Path,
) -> None:
    """--show-completion prints a bash script; a TAB after `resume b` offers `beta` alone,
    read from the inventory that FLEET_INVENTORY names (the installed `fleet` script)."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "hosts:\n"
        "  alpha: {address: 127.0.0.1, services: [x]}\n"
        "  beta: {address: 127.0.0.1, services: [y]}\n"
    )
    fleet_bin = str(Path(sys.executable).parent / "fleet")
    env = {**os.environ, "FLEET_INVENTORY": str(inventory)}
    # As from an operator's bash prompt: Typer names the shell it finds among fleet's
    # parents, whatever shell started the test run (make's recipes run under sh). A list,
    # not one command, keeps bash from exec'ing fleet in its own place.
    shown = subprocess.run(
        ["bash", "-c", f"{shlex.quote(fleet_bin)} --show-completion; exit $?"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "_FLEET_COMPLETE" in shown.stdout
    for line, expected in (
        ("fleet resume b", ["beta"]),
        ("fleet deploy --hosts al", ["alpha", "all"]),
    ):
        completing = {
            **env,
            "_FLEET_COMPLETE": "complete_bash",
            "COMP_WORDS": line,
            "COMP_CWORD": str(len(line.split()) - 1),
        }
        offered = subprocess.run(
            [fleet_bin], capture_output=True, text=True, env=completing, timeout=60
        )
        assert offered.stdout.split() == expected, offered
