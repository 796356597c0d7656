"""check's docker item as the runner sees it (remote/dockercmd.py, issue #25): the
compose command's first word found on PATH or in the usual places, and under
`become: sudo` asked through `sudo -n`."""

from __future__ import annotations

import posixpath
import shlex

from inventory import Host
from remote.kit.dockercmd import PLACES

# {word}: the compose command's first word, quoted; {places}: the usual places, quoted.
# A word found off PATH is added to PATH, so that the compose item finds it too.
FIND = """\
x={word}
case $x in
*/*) [ -x "$x" ] || x= ;;
*) y=$(command -v "$x" 2>/dev/null) || y=
  if [ -z "$y" ]; then
    for d in {places}; do [ -x "$d/$x" ] && {{ y=$d/$x; PATH=$PATH:$d; break; }}; done
  fi
  x=$y ;;
esac
if [ -z "$x" ]; then item docker missing; printf '%s\\n' "$PATH"
"""
SUDO = """\
elif true; then
  o=$(sudo -n "$x" version --format '{{{{.Server.Version}}}}' 2>&1)
  item docker $?; printf '%s\\n' "$x" "$o"
"""


def engine_word(host: Host) -> str:
    """What the docker item looks for: the compose command's first word when it is
    docker's (maybe an absolute path), else docker (the compose item judges the rest)."""
    first = host.compose_command[0]
    return first if posixpath.basename(first).startswith("docker") else "docker"


def docker_probe(host: Host) -> str:
    """The head of the probe's docker item: the caller's branches follow as `elif`."""
    head = FIND.format(
        word=shlex.quote(engine_word(host)),
        places=" ".join(shlex.quote(p) for p in PLACES),
    )
    return head + SUDO.format() if host.become == "sudo" else head


def missing(word: str, path: str) -> tuple[str, str]:
    """Detail and fix when the word is nowhere."""
    return (
        f"{word} not found on PATH ({path})",
        f"name it in the inventory: `compose_command: [/abs/path/{word}, compose]`, "
        "or install Docker Engine",
    )


def sudo_refused(user: str, lines: tuple[str, ...]) -> tuple[str, str] | None:
    """Detail and fix when sudo -n would not run docker; None when that is not why."""
    text = " ".join(lines[1:])
    if not lines or "sudo" not in text:
        return None
    cause = "sudo needs a password" if "password is required" in text else text
    return cause, f"add `{user} ALL=(root) NOPASSWD: {lines[0]}` to /etc/sudoers.d/"
