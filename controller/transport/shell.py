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


class ShellLine(str):
    """A command line for a host's shell, and the argv it stands for.

    The shell only ever gets the text (every word quoted once, here); `argv` says what it
    runs, for notes and for test fakes, which answer by argv and never parse shell text.
    A script's argv is `sh`, its name and the values quoted into it. `input` is what a
    here-document in the text feeds the command (None: nothing inline).
    """

    argv: tuple[str, ...]
    input: bytes | None

    def __new__(cls, text: str, argv: Sequence[str], input: bytes | None = None) -> ShellLine:
        line = super().__new__(cls, text)
        line.argv = tuple(argv)
        line.input = input
        return line

    def rewritten(self, text: str) -> ShellLine:
        """Other text (a frame around this line) that still runs the same argv."""
        return ShellLine(text, self.argv, self.input)


def argv_line(argv: Sequence[str], *, exec_: bool = False) -> ShellLine:
    """A plain command line from argv, every word quoted; `exec_` replaces the shell."""
    text = shlex.join(argv)
    return ShellLine(f"exec {text}" if exec_ else text, argv)


def runner_path(root: str, sha256_hex: str) -> str:
    """Where the archive with this hash lives on a host."""
    return f"{root.rstrip('/')}/{FLEET_DIR}/{runner_name(sha256_hex)}"


# -I: the host's PYTHON* variables and user site-packages never reach the runner (it
# imports the standard library only); -S: no site import, a few ms off every start.
PYTHON = ("python3", "-I", "-S")


# Input up to this size travels inside the command as a here-document: on a 300 ms link
# that is a round trip less than stdin, which only flows once the exec is confirmed.
INLINE_INPUT_MAX = 32 * 1024
HEREDOC_END = "FLEET_INPUT_END"


def inline_input(data: bytes | None) -> bool:
    """Can `data` be given as a here-document: one line of ASCII. The reader gets it
    with a newline added, so only for input where that changes nothing (JSON)."""
    return (
        data is not None
        and len(data) <= INLINE_INPUT_MAX
        and data.isascii()
        and b"\n" not in data
        and b"\r" not in data
        and data != HEREDOC_END.encode()
    )


def runner_command(
    root: str, sha256_hex: str, args: Sequence[str], stdin: bytes | None = None
) -> ShellLine:
    """Run the archive's unpacked copy (its first start makes it) if it is there, else
    the archive, else exit 97; every word quoted:

        test -f UNPACKED/__main__.py && exec python3 -I -S UNPACKED/__main__.py ARGS
        test -f ARCHIVE || exit 97; exec python3 -I -S ARCHIVE ARGS

    With `stdin` (see inline_input) both lines read it from a here-document instead."""
    path = runner_path(root, sha256_hex)
    unpacked = shlex.quote(path[: -len(".pyz")] + ".d/__main__.py")
    archive = shlex.quote(path)
    argv = (*PYTHON, path, *args)
    words = " ".join(shlex.quote(a) for a in args)
    python = " ".join(PYTHON)
    guard = (
        f"test -f {unpacked} && exec {python} {unpacked} {words}\n"
        f"test -f {archive} || exit {NO_RUNNER}; exec {python} {archive} {words}"
    )
    if stdin is None:
        return ShellLine(guard, argv)
    assert inline_input(stdin), "input for a here-document: one ASCII line"
    # The quoted delimiter keeps the shell from expanding anything in the input.
    text = f"{{ {guard}\n}} <<'{HEREDOC_END}'\n{stdin.decode()}\n{HEREDOC_END}"
    return ShellLine(text, argv, stdin)


STATUS_SNAPSHOT = "fleet-status-snapshot"


def status_command(root: str) -> ShellLine:
    """The read-only state snapshot (remote.status.SNAPSHOT_SCRIPT): no Python needed."""
    return ShellLine(snapshot_script(root, shlex.quote), ("sh", STATUS_SNAPSHOT, root))


# How a POSIX sh script survives any login shell (fish, tcsh, zsh, nushell) as one
# single-quoted word: no newline (tcsh ends the word there), no `\\` or `\'` (fish
# reads those inside quotes), no `'` or `!`. printf %b turns the escapes back; `\"`, `\$`
# and "\`" are for the double quotes around them. Octal escapes take four digits so that
# a digit after them is never read as part of one.
_SH_ESCAPES = {
    "\\": "\\0134",
    "\n": "\\n",
    "'": "\\0047",
    "!": "\\0041",
    '"': '\\"',
    "$": "\\$",
    "`": "\\`",
}
_SH_TABLE = str.maketrans(_SH_ESCAPES)


def under_sh(command: str) -> str:
    """The command as sshd should get it: run by /bin/sh whatever the login shell is,
    with no extra round trip (issue #25)."""
    body = command.translate(_SH_TABLE)
    return f'exec /bin/sh -c \'eval "$(printf %b "{body}")"\''
