"""Shell command lines, built once at the SSH boundary from argv (internals.md)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from remote.protocol import FLEET_DIR, Exit, runner_name
from remote.status import snapshot_script

# Exit codes of the guard line below (the runner protocol's) and of a shell that cannot
# find python3.
NO_RUNNER = Exit.NO_RUNNER
NO_PYTHON = 127


def runner_path(root: str, sha256_hex: str) -> str:
    """Where the archive with this hash lives on a host."""
    return f"{root.rstrip('/')}/{FLEET_DIR}/{runner_name(sha256_hex)}"


# -I: the host's PYTHON* variables and user site-packages never reach the runner (it
# imports the standard library only); -S: no site import, a few ms off every start.
PYTHON = ("python3", "-I", "-S")


def runner_command(root: str, sha256_hex: str, args: Sequence[str]) -> str:
    """Run the archive's unpacked copy (its first start makes it) if it is there, else
    the archive, else exit 97; every word quoted:

        test -f UNPACKED/__main__.py && exec python3 -I -S UNPACKED/__main__.py ARGS
        test -f ARCHIVE || exit 97; exec python3 -I -S ARCHIVE ARGS
    """
    archive = runner_path(root, sha256_hex)
    unpacked = shlex.quote(archive[: -len(".pyz")] + ".d/__main__.py")
    archive = shlex.quote(archive)
    argv = " ".join(shlex.quote(a) for a in args)
    python = " ".join(PYTHON)
    return (
        f"test -f {unpacked} && exec {python} {unpacked} {argv}\n"
        f"test -f {archive} || exit {NO_RUNNER}; exec {python} {archive} {argv}"
    )


def status_command(root: str) -> str:
    """The read-only state snapshot (remote.status.SNAPSHOT_SCRIPT): no Python needed."""
    return snapshot_script(root, shlex.quote)
