"""Hosts as their owners set them up (issue #25): a login shell of their choice, a
Synology-style PATH with docker outside it, docker allowed only through sudo.

kinds.py asks this module for the pieces; TESTWORLD.md says what each kind is like.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from pathlib import Path

# What each login shell reads for `SHELL -c COMMAND` (sshd's way), with a chatty banner
# on stdout and stderr in its own syntax; bash's is kinds.BANNER_BASHRC.
SHELL_BANNERS = {
    "fish": (
        ".config/fish/config.fish",
        'echo "Welcome to fish on "(hostname)\necho "WARNING: monitored" >&2\n'
        "printf 'a fish motd without a newline: '\n",
    ),
    "tcsh": (
        ".tcshrc",
        'echo "Welcome to tcsh on `hostname`"\necho "WARNING: monitored" > /dev/stderr\n'
        "printf 'a tcsh motd without a newline: '\n",
    ),
    "zsh": (
        ".zshenv",
        'echo "Welcome to zsh on $(hostname)"\necho "WARNING: monitored" >&2\n'
        "printf 'a zsh motd without a newline: '\n",
    ),
}
# A Synology DSM session's PATH: docker is not on it.
SYNOLOGY_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
SYNOLOGY_DOCKER_DIR = "/usr/local/bin"
DOCKERS = "/usr/bin/docker, /usr/local/bin/docker"  # where the lab machine has one
SUDOERS_DIR = Path("/etc/sudoers.d")


def shell_rc(home: Path, shell: str, banner: bool) -> list[Path]:
    """Write the shell's startup file (a banner, or nothing); the paths made, for chown."""
    name = Path(shell).name
    if name not in SHELL_BANNERS:
        return []
    relative, text = SHELL_BANNERS[name]
    made = []
    path = home
    for part in Path(relative).parts:
        path = path / part
        made.append(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if banner else "")
    return made


def sudoers_file(user: str) -> Path:
    return SUDOERS_DIR / f"fleet-lab-{user}"


def write_sudoers(user: str, password: bool) -> None:
    """docker through sudo: NOPASSWD, or (password) a rule sudo -n must refuse."""
    tag = "" if password else "NOPASSWD: "
    path = sudoers_file(user)
    path.write_text(f"{user} ALL=(root) {tag}{DOCKERS}\n")
    path.chmod(0o440)


def remove_sudoers(user: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        sudoers_file(user).unlink()


def synology_folders(sshd_dir: Path) -> None:
    """usr-bin: /usr/bin without docker, as links to where the namespace shows the real
    /usr/bin (synology_mounts): a public path, which the lab's own folders are not."""
    folder = sshd_dir / "usr-bin"
    folder.mkdir(exist_ok=True)
    for entry in os.listdir("/usr/bin"):
        link = folder / entry
        if entry != "docker" and not link.is_symlink():
            link.symlink_to(Path(SYNOLOGY_DOCKER_DIR, entry))


def synology_mounts(sshd_dir: Path) -> str:
    """Shell steps in the host's namespace: the real /usr/bin seen at /usr/local/bin
    (docker among it, as DSM keeps it), then /usr/bin (so /bin) without docker."""
    usr = shlex.quote(str(sshd_dir / "usr-bin"))
    return f" && mount --bind /usr/bin {SYNOLOGY_DOCKER_DIR} && mount --bind {usr} /usr/bin"
