"""Lab hosts as real homelabs have them: no SFTP, a chatty shell, a non-root user, a root
it may not write, a full disk, no python3 (TESTWORLD.md).

`LabHostOptions` says what a host is like; the Lab (hosts.py) asks this module for the
pieces: sshd config lines, the user's home, the mounts inside the host's namespace.
Default options are a stock host as the lab always had: root, SFTP, a quiet shell.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.lab import owners

BANNER_BASHRC = """\
# a chatty login shell, as on many NAS boxes: a greeting on stdout and on stderr
echo "Welcome to $(hostname)! Last update: never"
echo "WARNING: this system is monitored" >&2
printf 'and a motd line that never ends: '
"""
PATH_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
FULL_DISK_SIZE = "16k"  # smaller than the runner: its upload hits ENOSPC


@dataclass(frozen=True)
class LabHostOptions:
    """What one lab host is like; the defaults are the lab's stock host."""

    sftp: bool = True
    banner: bool = False  # ~/.bashrc echoes to stdout and stderr
    user: str = "root"  # another name: a real Unix user, made and removed by the lab
    user_in_docker_group: bool = True
    root_writable: bool = True  # False: root (non-root user: not theirs; root: read-only)
    root_full: bool = False  # a tiny tmpfs over the root, in the host's namespace
    python3: bool = True  # False: sessions get a PATH without python3
    # An older interpreter's install folder (e.g. pyenv's 3.7): python3 on PATH is that one.
    old_python: str | None = None
    shell: str = "/bin/bash"  # the user's login shell (owners.py): fish, tcsh, zsh
    # docker through sudo (owners.py): "nopasswd", or "password" (a rule sudo -n refuses)
    sudo: str | None = None
    synology: bool = False  # sessions get DSM's PATH; docker is only in /usr/local/bin

    @property
    def own_path(self) -> bool:
        return not self.python3 or self.old_python is not None

    @property
    def non_root(self) -> bool:
        return self.user != "root"


def sshd_config(options: LabHostOptions, config: str, sshd_dir: Path) -> str:
    """The stock sshd config, changed for this kind of host."""
    lines = []
    for line in config.splitlines():
        if line.startswith("Subsystem sftp") and not options.sftp:
            continue
        if line.startswith("AuthorizedKeysFile") and options.non_root:
            # sshd reads a user's keys as that user: the lab's own folder is not theirs.
            line += " .ssh/authorized_keys"
        lines.append(line)
    if options.own_path:
        # sshd applies SetEnv last, so it wins over the PATH it would set itself.
        env = f"PATH={sshd_dir / 'nopython-bin'}"
        if options.old_python is not None:
            # pyenv links its libpython by an rpath under /root, which the host hides.
            env += f" LD_LIBRARY_PATH={sshd_dir / 'old-python' / 'lib'}"
        lines.append(f"SetEnv {env}")
    if options.synology:
        lines.append(f"SetEnv PATH={owners.SYNOLOGY_PATH}")
    return "\n".join(lines) + "\n"


def prepare_kind(options: LabHostOptions, sshd_dir: Path, root_dir: Path, pubkey: str) -> None:
    """Make what this kind of host needs before its sshd starts."""
    if options.own_path:
        _path_without_python(sshd_dir / "nopython-bin")
    if options.old_python is not None:
        # Seen through a bind mount (namespace_mounts): the host's /root is another folder.
        (sshd_dir / "old-python").mkdir(exist_ok=True)
        found = Path(options.old_python, "bin").glob("python3.*")
        name = max(p.name for p in found if p.name[len("python3.") :].isdigit())
        (sshd_dir / "nopython-bin" / "python3").symlink_to(sshd_dir / "old-python" / "bin" / name)
    if options.synology:
        owners.synology_folders(sshd_dir)
    if not options.non_root:
        return
    home = _make_user(options.user, options.user_in_docker_group, options.shell)
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    (ssh / "authorized_keys").write_text(pubkey)
    (home / ".bashrc").write_text(BANNER_BASHRC if options.banner else "")
    rc_files = owners.shell_rc(home, options.shell, options.banner)
    if options.sudo is not None:
        owners.write_sudoers(options.user, password=options.sudo == "password")
    uid, gid = _ids(options.user)
    for path in (home, ssh, ssh / "authorized_keys", home / ".bashrc", *rc_files):
        os.chown(path, uid, gid)
    if options.root_writable:
        for path in [root_dir, *root_dir.rglob("*")]:
            os.chown(path, uid, gid, follow_symlinks=False)


def namespace_mounts(options: LabHostOptions, host_root: str, sshd_dir: Path) -> str:
    """Shell steps run in the host's mount namespace after its root is bound."""
    root = shlex.quote(host_root)
    if options.synology:
        return owners.synology_mounts(sshd_dir)
    if options.old_python is not None:
        old, seen = shlex.quote(options.old_python), shlex.quote(str(sshd_dir / "old-python"))
        return f" && mount --bind {old} {seen}"
    if options.root_full:
        return f" && mount -t tmpfs -o size={FULL_DISK_SIZE} fleet-full {root}"
    if not options.root_writable and not options.non_root:
        return f" && mount -o remount,bind,ro {root}"
    return ""


def remove_user(options: LabHostOptions) -> None:
    """Remove the user the lab made (its home too); nothing for root."""
    if options.non_root:
        owners.remove_sudoers(options.user)
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(["userdel", "-r", "-f", options.user], check=True, capture_output=True)


def _make_user(name: str, docker_group: bool, shell: str) -> Path:
    with contextlib.suppress(KeyError):
        pwd.getpwnam(name)
        remove_user(LabHostOptions(user=name))  # left over from a killed run
    # -p '*': no password, but not a locked account (which sshd without PAM refuses).
    subprocess.run(["useradd", "-m", "-s", shell, "-p", "*", name], check=True, capture_output=True)
    if docker_group:
        subprocess.run(["usermod", "-aG", "docker", name], check=True, capture_output=True)
    return Path(pwd.getpwnam(name).pw_dir)


def _ids(name: str) -> tuple[int, int]:
    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def _path_without_python(folder: Path) -> None:
    """A folder of links to every command on the usual PATH but python*."""
    folder.mkdir(parents=True, exist_ok=True)
    for directory in PATH_DIRS:
        with contextlib.suppress(OSError):
            for entry in os.scandir(directory):
                link = folder / entry.name
                if entry.name.startswith("python") or link.is_symlink():
                    continue
                link.symlink_to(entry.path)
