"""docker or compose: found off PATH (Synology, snap), run through `sudo -n` under
become: sudo (never the runner: files stay the SSH user's). procs.run asks argv_for()."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar, Dict, List, Optional, Sequence

SYNO = "/var/packages/%s/target/usr/bin"
PLACES = ["/usr/local/bin", "/usr/bin", "/bin", "/snap/bin", SYNO % "ContainerManager"]
PLACES += [SYNO % "Docker", "/opt/bin", "/usr/local/sbin", "/usr/sbin"]
SUDO = ["sudo", "-n"]
# The docker CLI's own folders for its plugins, after the user's (docker's order); also
# where `fleet check` looks (controller/check/probe.py).
PLUGIN_DIRS = ["/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins"]
PLUGIN_DIRS += ["/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins"]
PLUGIN_KEY = "docker compose"  # compose_plugin()'s answer, kept in _Setup.found
ELF = b"\x7fELF"


class DockerMissing(Exception):
    """Not found, or sudo refuses it."""


class _Setup:
    words: Sequence[str] = ("docker", "podman")
    become: Optional[str] = None
    found: ClassVar[Dict[str, Optional[str]]] = {}


def configure(compose_command: Sequence[str], become: Optional[str]) -> None:
    """Once a plan is read: docker's words, sudo or not."""
    _Setup.words = (compose_command[0], "docker", "podman")
    _Setup.become = become
    _Setup.found = {}


def _path() -> List[str]:
    return [d for d in os.environ.get("PATH", "").split(":") if d]


def _runs(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def locate(word: str) -> Optional[str]:
    if word not in _Setup.found:
        places = [word] if "/" in word else [os.path.join(d, word) for d in _path() + PLACES]
        _Setup.found[word] = next((p for p in places if _runs(p)), None)
    return _Setup.found[word]


def off_path(word: str) -> bool:
    return "/" not in word and not any(_runs(os.path.join(d, word)) for d in _path())


def argv_for(argv: List[str]) -> List[str]:
    if not argv or argv[0] not in _Setup.words:
        return argv
    path = locate(argv[0]) or argv[0]
    if _Setup.become == "sudo":
        return [*SUDO, path, *argv[1:]]
    if argv[1:2] == ["compose"]:
        plugin = compose_plugin(path)
        if plugin is not None:
            return [plugin, *argv[2:]]
    return [path, *argv[1:]] if off_path(argv[0]) else argv


def compose_plugin(docker: str) -> Optional[str]:
    """Docker's compose plugin, to run directly (`docker`: the CLI as located).

    `docker compose X` starts the docker CLI, which starts the plugin twice (its
    metadata, then X): about 40 ms of CPU a call more than the plugin alone, which runs X
    the same way (compose's standalone mode). Only for Docker's own CLI and plugin
    (binaries: a wrapper script is run as it is), where the CLI would pick that plugin
    (no cliPluginsExtraDirs), never through sudo."""
    if PLUGIN_KEY not in _Setup.found:
        _Setup.found[PLUGIN_KEY] = _find_plugin(docker)
    return _Setup.found[PLUGIN_KEY]


def _find_plugin(docker: str) -> Optional[str]:
    binary = os.path.realpath(docker)  # snap's /snap/bin/docker is snap itself
    if os.path.basename(binary) != "docker" or not _is_binary(binary):
        return None
    config = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    try:
        with open(os.path.join(config, "config.json"), "rb") as handle:
            if b"cliPluginsExtraDirs" in handle.read():
                return None
    except OSError:
        pass
    for folder in [os.path.join(config, "cli-plugins"), *PLUGIN_DIRS]:
        plugin = os.path.join(folder, "docker-compose")
        if _runs(plugin):
            return plugin if _is_binary(plugin) else None
    return None


def _is_binary(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == ELF
    except OSError:
        return False


def prepare_note(word: str) -> str:
    """DockerMissing if it cannot run; else what to say (off PATH, sudo) or ""."""
    path = locate(word)
    if path is None:
        raise DockerMissing(
            "%s not found on PATH (%s) nor in %s: name it in the inventory, e.g. "
            "compose_command: [/abs/path/%s, compose]"
            % (word, os.environ.get("PATH", ""), ", ".join(PLACES), word)
        )
    notes = ["%s is %s (not on PATH)" % (word, path)] if off_path(word) else []
    if _Setup.become == "sudo":
        notes.append("it runs through sudo -n")
    return ", ".join(notes)


def sudo_refused(path: str, why: str) -> str:
    """What to say when `sudo -n -l PATH` (which runs nothing) says no: the sudoers line."""
    line = "%s ALL=(root) NOPASSWD: %s" % (user_name(), path)
    return "become: sudo, but sudo -n cannot run %s (%s): add `%s` to /etc/sudoers.d/" % (
        path,
        why,
        line,
    )


def user_name() -> str:
    """This user's name, for a sudoers line or an error (uid N when it has none)."""
    try:
        import pwd  # only on failure paths: one import less for every run

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return "uid %d" % os.getuid()
