"""The CLI as a newcomer meets it: exit codes that tell things apart, one-host commands
that refuse a selection of several, one way to name hosts, -i before the command, -h."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.errors import ExitStatus
from tests.unit.controller.test_cli import _local_lab, env, invoke

__all__ = ["env"]  # the fixture, shared with test_cli

TWO_PIS = (
    "hosts:\n"
    "  pi-1:\n    address: 127.0.9.1\n    services: [media, dns]\n"
    "  pi-2:\n    address: 127.0.9.2\n    services: [media]\n"
)


def _two_pis(folder: Path) -> Path:
    inv = folder / "hosts.yml"
    inv.write_text(TWO_PIS)
    return inv


def test_status_of_a_host_never_deployed(env: Path) -> None:
    """not_deployed (not failed), exit 1, the deploy to run; --json has no run id that
    `fleet report` could not find."""
    inv = _local_lab(env / "root", ["web"])
    code, out, _ = invoke("status", "-i", str(inv), "--json")
    found = json.loads(out)
    assert code == ExitStatus.NOT_COMPLETED
    assert found["run_id"] is None and found["hosts"]["me"]["status"] == "not_deployed"
    code, table, _ = invoke("status", "-i", str(inv))
    assert code == ExitStatus.NOT_COMPLETED and "not_deployed" in table
    assert f"run fleet deploy -i {inv} --hosts me" in table
    assert invoke("report")[0] == ExitStatus.USAGE  # status recorded no run


def test_plan_says_which_hosts_could_not_be_planned(env: Path) -> None:
    """Exit 1 as for a change (the codes are pinned), but stderr and --json say it."""
    inv = env / "hosts.yml"
    inv.write_text("hosts:\n  gone:\n    address: 127.0.0.1\n    port: 1\n    services: [x]\n")
    (env / "services" / "x").mkdir(parents=True)
    code, out, err = invoke("plan", "-i", str(inv), "--json", "--connect-timeout", "2")
    assert code == ExitStatus.NOT_COMPLETED
    assert json.loads(out)["hosts"]["gone"]["status"] == "unreachable"
    assert "could not plan 1 host " in err and "gone" in err


def test_internal_error_has_its_own_exit_code(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in fleet is exit 3, never 1 (which says a host did not complete)."""

    def broken(*_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("controller.cli.inspect.RunStore", broken)
    code, _, err = invoke("report")
    assert code == ExitStatus.INTERNAL == 3
    assert "internal error: RuntimeError: a bug" in err


def test_releases_refuses_a_selection_of_several(env: Path) -> None:
    """Not the first match silently: a usage error naming the matches, nothing contacted."""
    code, _, err = invoke("releases", "-i", str(_two_pis(env)), "pi-*")
    assert code == ExitStatus.USAGE
    assert "'pi-*' selects 2 hosts (pi-1, pi-2); releases takes one host" in err


def test_logs_refuses_a_service_the_host_does_not_run(env: Path) -> None:
    code, out, err = invoke("logs", "-i", str(_two_pis(env)), "pi-1", "dsn")
    assert code == ExitStatus.USAGE and out == ""
    assert "pi-1 has no service 'dsn'" in err and "did you mean 'dns'?" in err


@pytest.mark.parametrize("command", ["resume", "rollback"])
def test_resume_and_rollback_take_hosts(env: Path, command: str) -> None:
    """--hosts as deploy takes it; the arguments stay a synonym; both at once is refused."""
    inv = str(_two_pis(env))
    code, _, err = invoke(command, "-i", inv, "--hosts", "pi-9")
    assert code == ExitStatus.USAGE and "unknown host 'pi-9'" in err  # --hosts was read
    code, _, err = invoke(command, "-i", inv, "pi-9")
    assert code == ExitStatus.USAGE and "unknown host 'pi-9'" in err
    code, out, _ = invoke(command, "-i", inv, "--json", "--hosts", "pi-1", "pi-2")
    assert code == ExitStatus.USAGE and "not both" in json.loads(out)["error"]
    code, _, err = invoke(command, "-i", inv)
    assert code == ExitStatus.USAGE and "--hosts" in err


def test_inventory_before_the_command(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`fleet -i FILE status` reads FILE; over FLEET_INVENTORY; the command's -i wins."""
    bad = env / "bad.yml"
    bad.write_text("hosts:\n  h1:\n    address: 127.0.9.8\n    sevrices: [x]\n")
    other = env / "other.yml"
    other.write_text("hosts: [\n")
    code, _, err = invoke("-i", str(bad), "status")
    assert code == ExitStatus.USAGE and "bad.yml" in err and "sevrices" in err
    monkeypatch.setenv("FLEET_INVENTORY", str(other))
    assert "bad.yml" in invoke("-i", str(bad), "status")[2]
    assert "other.yml" in invoke("-i", str(bad), "status", "-i", str(other))[2]


@pytest.mark.parametrize("args", [["-h"], ["deploy", "-h"], ["logs", "-h"]])
def test_h_is_help(args: list[str]) -> None:
    code, out, _ = invoke(*args)
    assert code == ExitStatus.OK and "Usage" in out


def test_help_keeps_its_defaults() -> None:
    """`[default: ...]` was eaten as Rich markup: the defaults are shown in words."""
    code, out, _ = invoke("deploy", "--help")
    flat = " ".join(out.replace("│", " ").split())
    assert code == ExitStatus.OK
    assert "(default: inventory/hosts.yml)" in flat
    assert "(default: the inventory's folder)" in flat


def test_a_push_hosts_missing_service_is_an_inventory_error_before_any_contact(
    env: Path,
) -> None:
    """--repo without services/<svc>/: exit 2 at the file and line, as JSON with --json,
    for deploy and plan, before any host is contacted (its address would refuse)."""
    inv = env / "hosts.yml"
    inv.write_text(
        "hosts:\n  pi:\n    address: 127.0.9.1\n    port: 1\n    source: push\n"
        "    services: [web]\n"
    )
    for command in ("deploy", "plan"):
        code, out, err = invoke(command, "-i", str(inv), "--json")
        assert code == ExitStatus.USAGE, (out, err)
        found = json.loads(out)
        assert found["exit"] == 2 and f"{inv}:6:" in found["error"], found
        assert "services/web/ is not in" in found["error"]
    code, out, err = invoke("deploy", "-i", str(inv), "--repo", str(env / "nosuch"))
    assert code == ExitStatus.USAGE and out == "" and f"{inv}:" in err
    assert not (env / "state" / "fleet" / "runs").exists()  # no run was started


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["deploy", "--pull", "bogus", "--json"], "--pull"),
        (["deploy", "--json", "--until-done", "5x"], "--until-done"),
        (["status", "--json", "--no-such-option"], "--no-such-option"),
    ],
)
def test_a_usage_error_click_finds_is_json_on_stdout_with_json(
    args: list[str],
    named: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Errors in parsing the command line come before any command's own boundary; with
    --json they are one JSON object on stdout all the same, nothing contacted."""
    from controller.cli.app import main

    monkeypatch.setattr("sys.argv", ["fleet", *args])
    with pytest.raises(SystemExit) as ended:
        main()
    assert ended.value.code == ExitStatus.USAGE
    out, err = capsys.readouterr()
    found = json.loads(out)
    assert found["exit"] == 2 and named in found["error"], found
    assert named in err
