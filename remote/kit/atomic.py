"""Files written whole or not at all: temp file, fsync, rename."""

from __future__ import annotations

import os

from remote.kit.jsonio import dumps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def atomic_write(path: str, data: bytes, durable: bool = True, mode: int = 0o644) -> None:
    """Temp file in the same folder, fsync, rename: a crash leaves either the old file
    or the new one, never half of one. `durable` fsyncs the folder too, so that the
    rename itself survives a power cut. `mode` holds from the temp file's creation on
    (0o600: a secret is never readable by others, not even for a moment)."""
    directory = os.path.dirname(path) or "."
    # Named by our pid: a leftover of that name is from a dead process, safe to reuse.
    temp = os.path.join(directory, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # a leftover temp file keeps its mode through O_TRUNC
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
    if durable:
        fsync_dir(directory)


def fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: str) -> None:
    """The folder and its parents (0755), unless it exists."""
    if not os.path.isdir(path):
        os.makedirs(path, 0o755)


def write_json(path: str, data: Any) -> None:
    atomic_write(path, (dumps(data, indent=2) + "\n").encode("utf-8"))
