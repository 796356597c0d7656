"""`fleet check`: can every host be deployed to? One connection and one sh probe per host.

Nothing is uploaded and nothing is changed: the probe is one POSIX sh script (every
inventory value quoted once, here), framed between marker lines with a per-run nonce, so
a login banner or a chatty .bashrc cannot be taken for its output.

What a probe costs a host is almost all one program start: the compose plugin's (a 76 MB
Go binary, ~40 ms of CPU; python3 --version, df and the sh around them cost a few ms, the
SSH session itself as much as `fleet status`'s). So the plugin's answer is remembered on
the controller (check/cache.py) with the binary's identity (`stat -L`: device, inode, size,
mtime, ctime, path), and a probe told that identity runs the binary only when what it finds
differs: the first check of a host, and any check after the binary changed, went missing
from every plugin folder, lost its executable bit or stopped answering, asks it again.
"""

from __future__ import annotations

import secrets
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from controller.check import dockerprobe
from controller.check.cache import ComposeSeen
from controller.transport.shell import ShellLine
from inventory import Host
from remote.kit.dockercmd import PLUGIN_DIRS

# docker or a compose plugin that hangs (a wedged daemon) must not hang the check.
PROBE_TIMEOUT_S = 30.0
MIN_PYTHON = (3, 8)

ITEMS = ("ssh", "python3", "root", "disk", "docker", "compose", "git")

# {m} is the marker, the rest are shell-quoted words. `true > file`, not `: > file`: a
# failed redirection of a special builtin may end a POSIX shell.
PROBE = """\
m={m}
item() {{ printf '\\n%s item %s %s\\n' "$m" "$1" "$2"; }}
printf '\\n%s begin\\n' "$m"
item user 0; printf '%s\\n' "${{LOGNAME:-$USER}}"
if command -v python3 >/dev/null 2>&1; then
  o=$(python3 --version 2>&1); item python3 $?; printf '%s\\n' "$o"
else item python3 127; fi
r={root}
if [ -e "$r" ] && [ ! -d "$r" ]; then item root notdir; printf '%s\\n' "$r"
else
  d=$r
  while [ ! -d "$d" ]; do d=${{d%/*}}; [ -n "$d" ] || d=/; done
  t=$d/.fleet-check-$$
  if {{ true > "$t"; }} 2>/dev/null; then rm -f "$t"; item root writable
  else item root readonly; fi
  printf '%s\\n' "$d"
  item disk 0; df -Pk "$d" 2>&1
fi
s=/var/run/docker.sock p=
[ -z "$DOCKER_HOST" ] && [ -S "$s" ] && [ -f /var/run/docker.pid ] && \\
  read -r p < /var/run/docker.pid
{docker}elif [ -n "$p" ] && [ -d "/proc/$p" ]; then
  if [ -r "$s" ] && [ -w "$s" ]; then item docker socket; else item docker nosocket; fi
  printf '%s\\n' "$s"
else
  o=$("$x" version --format '{{{{.Server.Version}}}}' 2>&1); item docker $?; printf '%s\\n' "$o"
fi
{compose}
{git}printf '\\n%s end\\n' "$m"
"""
# `docker compose` is the docker CLI starting only to exec its plugin: run the plugin
# itself when it is in one of docker's plugin folders (half the CPU, on every host at once).
# Even so that start is most of a check's cost to a host, so its answer is remembered
# (check/cache.py) with the binary's identity: {known} is the identity last seen to answer,
# and only a binary that differs from it (or is new, or not a file stat can describe) is
# run. The identity is taken before the run: a binary replaced meanwhile differs next time.
_PLUGIN_DIRS = " ".join(shlex.quote(d) for d in PLUGIN_DIRS)  # the runner's list (dockercmd)
PLUGIN_PROBE = """\
c=
for d in "${{DOCKER_CONFIG:-$HOME/.docker}}/cli-plugins" {plugin_dirs}; do
  [ -x "$d/docker-compose" ] && {{ c=$d/docker-compose; break; }}
done
if [ -z "$c" ]; then o=$({compose} version --short 2>&1); item compose $?; printf '%s\\n' "$o"
else
  i=$(stat -L -c '%d %i %s %y %z' -- "$c" 2>/dev/null) && [ -n "$i" ] && i="$i $c" || i=
  if [ -n "$i" ] && [ "$i" = {known} ]; then item compose cached; printf '%s\\n' "$i"
  else
    if [ -n "$i" ]; then
      case $(od -A n -N 4 -t x1 -- "$c" 2>/dev/null) in
        *'7f 45 4c 46'*) item plugin elf ;;
        *) item plugin other ;;
      esac
      printf '%s\\n' "$i"
    fi
    o=$("$c" version --short 2>&1); item compose $?; printf '%s\\n' "$o"
  fi
fi
"""
COMPOSE_PROBE = """o=$({compose} version --short 2>&1); item compose $?; printf '%s\\n' "$o"\n"""
# A git host also needs its checkout: R/repo/.git, or a plain folder of services/ (deployed
# as it is); without either, validate would only find no compose.yaml.
GIT_PROBE = """\
if command -v git >/dev/null 2>&1; then item git 0; command -v git; else item git 127; fi
r={repo}
if [ -e "$r/.git" ]; then item repo git; elif [ -d "$r/services" ]; then item repo plain
else item repo none; fi
"""


# --- the probe ----------------------------------------------------------------------


def new_marker() -> str:
    """A marker no banner can contain by chance: fresh for every check."""
    return f"--- fleet-check-{secrets.token_hex(8)}"


def probe_script(host: Host, marker: str, known: ComposeSeen | None = None) -> ShellLine:
    """The probe for this host; each inventory value (and the cached identity) quoted
    once, here. `known`: the compose plugin binary last seen to answer on this host."""
    text = PROBE.format(
        m=shlex.quote(marker),
        root=shlex.quote(host.root),
        docker=dockerprobe.docker_probe(host),
        compose=compose_probe(host.compose_command, known),
        git=GIT_PROBE.format(repo=shlex.quote(host.repo)) if host.source == "git" else "",
    )
    return ShellLine(text, ("sh", "fleet-check-probe", host.root, *host.compose_command))


def asks_the_plugin(host: Host) -> bool:
    """The probe runs the compose plugin itself: only then is its answer cached."""
    return tuple(host.compose_command) == ("docker", "compose")


def compose_probe(command: Sequence[str], known: ComposeSeen | None = None) -> str:
    """The compose item of the probe: `<compose_command> version --short`, quoted once."""
    words = " ".join(shlex.quote(w) for w in command)
    if tuple(command) != ("docker", "compose"):
        return COMPOSE_PROBE.format(compose=words)
    known_binary = shlex.quote(known.binary if known else "")
    return PLUGIN_PROBE.format(compose=words, known=known_binary, plugin_dirs=_PLUGIN_DIRS)


@dataclass(frozen=True, slots=True)
class Answer:
    """What the probe printed for one item: its status word and its output lines."""

    code: str
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return next((line for line in reversed(self.lines) if line.strip()), "").strip()


def parse_probe(output: str, marker: str) -> dict[str, Answer] | None:
    """The items between the begin and end markers; None when the probe did not end."""
    answers: dict[str, tuple[str, list[str]]] = {}
    current: list[str] | None = None
    begun = False
    for line in output.splitlines():
        if line.startswith(marker + " "):
            word, _, rest = line[len(marker) + 1 :].partition(" ")
            if word == "begin":
                begun, answers, current = True, {}, None
            elif word == "end" and begun:
                return {k: Answer(code, tuple(lines)) for k, (code, lines) in answers.items()}
            elif word == "item" and begun:
                name, _, code = rest.partition(" ")
                current = []
                answers[name] = (code.strip(), current)
            continue
        if current is not None and line.strip():
            current.append(line.rstrip())
    return None
