"""Files to and from a host over exec channels: no SFTP subsystem needed.

A file's bytes go on the stdin of one `sh` script that writes them to a temp name in the
target folder, checks their size and sha256 on arrival, then renames them into place, so
the file is whole or absent. Reading is `cat` inside a frame. Any host with a POSIX sh
works: a NAS with SFTP off, dropbear, a login shell that prints a banner.

A remote failure that retrying cannot mend (permission denied, a read-only file system,
no space left) is a TransferError naming the path, the user and what to do; a dropped link
is the connector's LinkLost, which the caller may retry.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from collections.abc import Awaitable, Callable
from typing import Protocol

from controller.errors import FleetError, last_line
from controller.report.problems import Problem, transfer_hint
from controller.transport.framing import Frame


class _Result(Protocol):
    @property
    def exit_status(self) -> int: ...
    @property
    def stdout(self) -> bytes: ...
    @property
    def stderr(self) -> bytes: ...


RunFn = Callable[[str, bytes | None], Awaitable[_Result]]

# Exit codes of the scripts below: which step failed.
MKDIR_FAILED = 80
WRITE_FAILED = 81
CORRUPTED = 82
RENAME_FAILED = 83
READ_FAILED = 84
USER_PREFIX = "fleet-user "

# LC_ALL=C: the causes below are matched in the tools' English words.
_PRELUDE = """\
LC_ALL=C; export LC_ALL
fail() {
  printf 'fleet-user %s\\n' "$(id -un 2>/dev/null || echo "uid $(id -u)")"; rm -f "$t"; exit "$1"
}
"""

# The hash is checked with whatever the host has: sha256sum (coreutils, busybox), then
# python3; with neither, the size alone (the channel itself is integrity-protected).
_PUT = """\
d={dir}; t={tmp}; p={path}
mkdir -p -- "$d" || fail 80
cat > "$t" || fail 81
n=$(wc -c < "$t") || fail 81
[ "$n" -eq {size} ] || {{ echo "arrived with $n of {size} bytes" >&2; fail 82; }}
if command -v sha256sum >/dev/null 2>&1; then h=$(sha256sum < "$t")
elif command -v python3 >/dev/null 2>&1; then
  h=$(python3 -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())' \\
    < "$t")
else h={sha}; fi
case "$h" in {sha}*) ;; *) echo "arrived with sha256 $h" >&2; fail 82 ;; esac
chmod {mode} "$t" && mv -f "$t" "$p" || fail 83
"""

# mv -f over a symlink to a file renames over the link itself (the runner link never
# points at a folder), so the swap is atomic.
_SYMLINK = """\
d={dir}; t={tmp}; p={path}
mkdir -p -- "$d" || fail 80
ln -s {target} "$t" || fail 81
mv -f "$t" "$p" || fail 83
"""

_GET = """\
t=
cat {path} || fail 84
"""

_CAUSES = (
    ("Permission denied", Problem.ROOT_NOT_WRITABLE, "permission denied"),
    ("Operation not permitted", Problem.ROOT_NOT_WRITABLE, "permission denied"),
    ("Read-only file system", Problem.READ_ONLY_FS, "read-only file system"),
    ("No space left on device", Problem.NO_SPACE, "no space left on device"),
    ("Disk quota exceeded", Problem.NO_SPACE, "disk quota exceeded"),
)


class TransferError(FleetError):
    """A file could not be written or read on the host; retrying will not help."""

    def __init__(self, message: str, *, problem: Problem, path: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problem = problem
        self.path = path


class Corrupted(FleetError):
    """The bytes arrived changed or short (a link that cut the stream): worth a retry."""


def _tmp_name(path: str) -> str:
    return f"{path}.tmp-{os.urandom(4).hex()}"


def put_script(data: bytes, path: str, mode: int) -> str:
    """The script that writes `data` (its stdin) to `path` atomically."""
    q = shlex.quote
    body = _PUT.format(
        dir=q(os.path.dirname(path) or "."),
        tmp=q(_tmp_name(path)),
        path=q(path),
        size=len(data),
        sha=hashlib.sha256(data).hexdigest(),
        mode=f"{mode:o}",
    )
    return _PRELUDE + body


def symlink_script(target: str, path: str) -> str:
    """The script that points the symlink `path` at `target`, swapped in atomically."""
    q = shlex.quote
    body = _SYMLINK.format(
        dir=q(os.path.dirname(path) or "."), tmp=q(_tmp_name(path)), path=q(path), target=q(target)
    )
    return _PRELUDE + body


def get_script(path: str) -> str:
    return _PRELUDE + _GET.format(path=shlex.quote(path))


async def put(run: RunFn, data: bytes, path: str, mode: int = 0o644) -> None:
    """Write `data` to `path` on the host; raises TransferError, Corrupted or LinkLost."""
    await _checked(run, put_script(data, path, mode), data, path)


async def symlink(run: RunFn, target: str, path: str) -> None:
    await _checked(run, symlink_script(target, path), None, path)


async def get(run: RunFn, path: str) -> bytes:
    """A whole (small) file's bytes; raises TransferError or LinkLost."""
    return await _checked(run, get_script(path), None, path)


async def _checked(run: RunFn, script: str, stdin: bytes | None, path: str) -> bytes:
    frame = Frame()
    res = await run(frame.wrap(script, end=True), stdin)
    out = frame.inner(res.stdout)
    if res.exit_status == 0:
        return out
    err = frame.inner(res.stderr).decode(errors="replace")
    if res.exit_status == CORRUPTED:
        raise Corrupted(f"{path} {last_line(err) or 'arrived damaged'}")
    raise classify(res.exit_status, err, _user(out), path)


def _user(stdout: bytes) -> str:
    for line in stdout.decode(errors="replace").splitlines():
        if line.startswith(USER_PREFIX):
            return line[len(USER_PREFIX) :].strip() or "this user"
    return "this user"


def classify(code: int, stderr: str, user: str, path: str) -> TransferError:
    """Turn a failed step's stderr into an operator's cause: path, user, what to do."""
    where = os.path.dirname(path) if code in (MKDIR_FAILED, WRITE_FAILED) else path
    verb = "read" if code == READ_FAILED else "write"
    for words, problem, cause in _CAUSES:
        if words in stderr:
            if problem is Problem.ROOT_NOT_WRITABLE:
                cause = f"{cause} for user {user}"
            return TransferError(
                f"cannot {verb} {where}: {cause} ({transfer_hint(problem, user)})",
                problem=problem,
                path=where,
                hint=transfer_hint(problem, user),
            )
    if code == READ_FAILED and "No such file" in stderr:
        return TransferError(f"{path} does not exist", problem=Problem.TRANSFER_FAILED, path=path)
    detail = last_line(stderr) or f"exit {code}"
    return TransferError(
        f"cannot {verb} {where}: {detail}", problem=Problem.TRANSFER_FAILED, path=where
    )
