"""docker found off PATH, and run through sudo -n under become: sudo (issue #25)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from remote.kit import dockercmd, procs


def tool(folder: Path, name: str, script: str = '#!/bin/sh\necho "$0 $*"\n') -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(script)
    path.chmod(0o755)
    return path


@pytest.fixture(autouse=True)
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """PATH holds only the test's bin folder; the usual places are the test's own."""
    tool(tmp_path / "bin", "true", "#!/bin/sh\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.setattr(dockercmd, "PLACES", [str(tmp_path / "syno")])
    dockercmd.configure(["mydocker", "compose"], None)
    yield
    dockercmd.configure(["docker", "compose"], None)


def test_a_word_off_path_is_found_in_the_usual_places(tmp_path: Path) -> None:
    """argv_for names the file found; the runner runs it; prepare says where it was."""
    found = tool(tmp_path / "syno", "mydocker")
    assert dockercmd.argv_for(["mydocker", "ps"]) == [str(found), "ps"]
    assert dockercmd.argv_for(["git", "pull"]) == ["git", "pull"]
    assert procs.run(["mydocker", "ps"], 10).stdout.strip() == f"{found} ps"
    assert dockercmd.prepare_note("mydocker") == f"mydocker is {found} (not on PATH)"


def test_a_word_on_path_is_left_as_it_is(tmp_path: Path) -> None:
    tool(tmp_path / "bin", "mydocker")
    assert dockercmd.argv_for(["mydocker", "ps"]) == ["mydocker", "ps"]
    assert dockercmd.prepare_note("mydocker") == ""


def test_nowhere_fails_with_the_path_and_the_inventory_key(tmp_path: Path) -> None:
    with pytest.raises(dockercmd.DockerMissing) as caught:
        dockercmd.prepare_note("mydocker")
    message = str(caught.value)
    assert message.startswith(f"mydocker not found on PATH ({tmp_path / 'bin'}:/usr/bin:/bin)")
    assert "compose_command: [/abs/path/mydocker, compose]" in message


def test_an_absolute_compose_command_runs_as_given(tmp_path: Path) -> None:
    found = tool(tmp_path / "elsewhere", "docker")
    dockercmd.configure([str(found), "compose"], None)
    assert dockercmd.argv_for([str(found), "compose", "ps"]) == [str(found), "compose", "ps"]
    assert dockercmd.prepare_note(str(found)) == ""


def test_become_sudo_runs_docker_words_only_through_sudo(tmp_path: Path) -> None:
    """Every docker word (the compose command's and the engine CLI's) gets sudo -n and
    its absolute path; other commands (git) run as the SSH user."""
    found = tool(tmp_path / "bin", "mydocker")
    tool(tmp_path / "bin", "sudo")  # prints what it was asked
    dockercmd.configure(["mydocker", "compose"], "sudo")
    assert dockercmd.argv_for(["mydocker", "compose", "up"]) == [
        "sudo",
        "-n",
        str(found),
        "compose",
        "up",
    ]
    assert dockercmd.argv_for(["git", "pull"]) == ["git", "pull"]
    assert dockercmd.prepare_note("mydocker") == "it runs through sudo -n"


def test_a_sudo_that_wants_a_password_fails_with_the_sudoers_line(tmp_path: Path) -> None:
    found = tool(tmp_path / "bin", "mydocker")
    tool(tmp_path / "bin", "sudo", "#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n")
    dockercmd.configure(["mydocker", "compose"], "sudo")
    from remote.run import stages

    with pytest.raises(stages.StageFailed) as caught:
        stages._check_sudo(str(found))
    message = str(caught.value)
    assert "(sudo: a password is required)" in message
    assert f"ALL=(root) NOPASSWD: {found}` to /etc/sudoers.d/" in message


def test_the_plan_carries_become_and_sets_it_up(tmp_path: Path) -> None:
    """The job's become is read, and the runner's reading of a job sets docker up by it."""
    from remote.cli import _read_job_or_none
    from remote.run.job import JobError, parse_job

    text = '{"version": 1, "host": "h", "run_id": "r", "services": ["a"], "become": %s}'
    tool(tmp_path / "bin", "docker")
    assert parse_job(text % '"sudo"', str(tmp_path)).become == "sudo"
    plan = tmp_path / "plan.json"
    plan.write_text(text % '"sudo"')
    assert _read_job_or_none(str(plan), str(tmp_path)) is not None
    assert dockercmd.argv_for(["docker", "ps"])[:2] == ["sudo", "-n"]
    assert parse_job(text % "null", str(tmp_path)).become is None
    with pytest.raises(JobError, match="'become'"):
        parse_job(text % '"doas"', str(tmp_path))


ELF_TOOL = "\x7fELF (a binary, as far as the runner can tell)\n"


@pytest.fixture
def docker_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A binary `docker` on PATH and a binary compose plugin in the user's folder."""
    docker = tool(tmp_path / "bin", "docker", ELF_TOOL)
    config = tmp_path / "docker-config"
    plugin = tool(config / "cli-plugins", "docker-compose", ELF_TOOL)
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    monkeypatch.setattr(dockercmd, "PLUGIN_DIRS", [str(tmp_path / "system-plugins")])
    dockercmd.configure(["docker", "compose"], None)
    return docker, plugin


def test_docker_compose_runs_the_plugin_itself(docker_setup: tuple[Path, Path]) -> None:
    """`docker compose X` is the plugin run with X (one process, not three); every other
    docker command stays the docker CLI's."""
    _, plugin = docker_setup
    assert dockercmd.argv_for(["docker", "compose", "-p", "web", "up"]) == [
        str(plugin), "-p", "web", "up"
    ]  # fmt: skip
    assert dockercmd.argv_for(["docker", "ps"]) == ["docker", "ps"]


KEPT_BY_THE_CLI = [
    "docker is a script",
    "the plugin is a script",
    "sudo",
    "extra plugin folders",
    "no plugin",
    "docker is a link to snap",
]


@pytest.mark.parametrize("case", KEPT_BY_THE_CLI)
def test_the_docker_cli_keeps_compose_where_it_would_choose_otherwise(
    docker_setup: tuple[Path, Path], case: str
) -> None:
    """A wrapper script (podman's `docker`, a test's counter) is what the owner runs; sudo
    rules name docker; config.json's cliPluginsExtraDirs may hold another plugin."""
    docker, plugin = docker_setup
    if case == "docker is a script":
        docker.write_text('#!/bin/sh\nexec podman "$@"\n')
    elif case == "the plugin is a script":
        plugin.write_text("#!/bin/sh\n")
    elif case == "sudo":
        dockercmd.configure(["docker", "compose"], "sudo")
    elif case == "docker is a link to snap":
        snap = tool(docker.parent.parent / "snap-bin", "snap", ELF_TOOL)
        docker.unlink()
        docker.symlink_to(snap)
    elif case == "extra plugin folders":
        (plugin.parent.parent / "config.json").write_text('{"cliPluginsExtraDirs": ["/x"]}')
    else:
        plugin.unlink()
    argv = dockercmd.argv_for(["docker", "compose", "ps"])
    assert argv[-3:] == [argv[-3], "compose", "ps"] and "docker" in argv[-3]
