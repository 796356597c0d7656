"""`fleet check`: can every host be deployed to? One connection and one sh probe per host.

Nothing is uploaded and nothing is changed: the probe is one POSIX sh script (every
inventory value quoted once, here), framed between marker lines with a per-run nonce, so
a login banner or a chatty .bashrc cannot be taken for its output.

What a probe costs a host is almost all one program start: the compose plugin's (a 76 MB
Go binary, ~40 ms of CPU; python3 --version, df and the sh around them cost a few ms, the
SSH session itself as much as `fleet status`'s). So the plugin's answer is remembered on
the controller (checkcache.py) with the binary's identity (`stat -L`: device, inode, size,
mtime, ctime, path), and a probe told that identity runs the binary only when what it finds
differs: the first check of a host, and any check after the binary changed, went missing
from every plugin folder, lost its executable bit or stopped answering, asks it again.
"""

from __future__ import annotations

import asyncio
import secrets
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from inventory import Host

from . import dockerprobe
from .checkcache import CheckCache, ComposeSeen
from .connectors import Connector, ConnectorFactory, LinkLost
from .engine import session_setup
from .hostrun import HostRun
from .model import HostStatus, Problem
from .options import EngineOptions

# Below this the next pull or image build may well fill the disk.
MIN_FREE_KB = 1024 * 1024
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
# (checkcache.py) with the binary's identity: {known} is the identity last seen to answer,
# and only a binary that differs from it (or is new, or not a file stat can describe) is
# run. The identity is taken before the run: a binary replaced meanwhile differs next time.
PLUGIN_PROBE = """\
c=
for d in "$HOME/.docker/cli-plugins" /usr/local/lib/docker/cli-plugins \\
  /usr/local/libexec/docker/cli-plugins /usr/lib/docker/cli-plugins \\
  /usr/libexec/docker/cli-plugins; do
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
GIT_PROBE = (
    "if command -v git >/dev/null 2>&1; then item git 0; command -v git; else item git 127; fi\n"
)


@dataclass(frozen=True, slots=True)
class CheckItem:
    """One checked thing: whether it passed, what was seen, and what to do if not."""

    ok: bool
    detail: str
    fix: str | None = None
    short: str | None = None  # the table's cell when the detail is long (not in --json)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail, "fix": self.fix}


@dataclass
class HostCheck:
    """One host's answers; `status` is ok, failed or unreachable."""

    name: str
    status: str = "ok"
    checks: dict[str, CheckItem] = field(default_factory=dict)
    error: str | None = None
    # What the probe said, for the compose cache (not in --json); None: it said nothing.
    answers: dict[str, Answer] | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checks": {k: v.to_json() for k, v in self.checks.items()},
            "error": self.error,
        }


@dataclass
class CheckReport:
    """Every host's check, in inventory order."""

    hosts: dict[str, HostCheck]

    @property
    def ok(self) -> bool:
        return all(h.status == "ok" for h in self.hosts.values())

    def to_json(self) -> dict[str, Any]:
        return {"hosts": {name: h.to_json() for name, h in self.hosts.items()}}


# --- the probe ----------------------------------------------------------------------


def new_marker() -> str:
    """A marker no banner can contain by chance: fresh for every check."""
    return f"--- fleet-check-{secrets.token_hex(8)}"


def probe_script(host: Host, marker: str, known: ComposeSeen | None = None) -> str:
    """The probe for this host; each inventory value (and the cached identity) quoted
    once, here. `known`: the compose plugin binary last seen to answer on this host."""
    return PROBE.format(
        m=shlex.quote(marker),
        root=shlex.quote(host.root),
        docker=dockerprobe.docker_probe(host),
        compose=compose_probe(host.compose_command, known),
        git=GIT_PROBE if host.source == "git" else "",
    )


def asks_the_plugin(host: Host) -> bool:
    """The probe runs the compose plugin itself: only then is its answer cached."""
    return tuple(host.compose_command) == ("docker", "compose")


def compose_probe(command: Sequence[str], known: ComposeSeen | None = None) -> str:
    """The compose item of the probe: `<compose_command> version --short`, quoted once."""
    words = " ".join(shlex.quote(w) for w in command)
    if tuple(command) != ("docker", "compose"):
        return COMPOSE_PROBE.format(compose=words)
    return PLUGIN_PROBE.format(compose=words, known=shlex.quote(known.binary if known else ""))


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


# --- judging the answers --------------------------------------------------------------


def _python(a: Answer | None) -> CheckItem:
    install = "install python3 >= 3.8 on the host, e.g. `sudo apt install python3`"
    if a is None or a.code != "0":
        return CheckItem(False, "python3 not found", install)
    version = a.text.removeprefix("Python ").strip()
    try:
        parts = tuple(int(p) for p in version.split(".")[:2])
    except ValueError:
        return CheckItem(False, f"python3 answered {a.text!r}", install)
    if parts < MIN_PYTHON:
        return CheckItem(False, f"python3 {version} is older than 3.8", install)
    return CheckItem(True, version)


def _root(a: Answer | None, host: Host, user: str) -> CheckItem:
    root = host.root
    if a is None:
        return CheckItem(False, "not checked", None)
    where = a.text or root
    if a.code == "notdir":
        fix = f"{root} is a file, not a folder: move it away (`sudo mv {root} {root}.old`)"
        return CheckItem(
            False, f"{root} is not a folder", fix + " or set another root", "not a folder"
        )
    if a.code != "writable":
        own = f"sudo mkdir -p {shlex.quote(root)} && sudo chown {user} {shlex.quote(root)}"
        return CheckItem(False, f"{where} is not writable by {user}", f"`{own}`", "not writable")
    if where != root:
        detail = f"{root} absent; {where} writable (a deploy creates it)"
        return CheckItem(True, detail, short="absent, creatable")
    return CheckItem(True, "writable")


def _disk(a: Answer | None) -> CheckItem:
    if a is None:
        return CheckItem(False, "not checked", None)
    fields = a.text.split()
    try:
        free_kb = int(fields[3])
        mount = fields[5] if len(fields) > 5 else "?"
    except (IndexError, ValueError):
        return CheckItem(False, f"df said {a.text!r}", "check `df -Pk` on the host")
    gib = f"{free_kb / 1024 / 1024:.1f} GiB"
    free = f"{gib} free on {mount}"
    if free_kb < MIN_FREE_KB:
        fix = f"free space on {mount}, e.g. `docker system prune` (less than 1 GiB left)"
        return CheckItem(False, free, fix, gib)
    return CheckItem(True, free, short=gib)


def _docker(a: Answer | None, user: str, word: str) -> CheckItem:
    if a is None:
        return CheckItem(False, "not checked", None)
    if a.code == "missing":
        return CheckItem(False, *dockerprobe.missing(word, a.text), short="not found")
    if a.code != "0" and (refused := dockerprobe.sudo_refused(user, a.lines)):
        return CheckItem(False, *refused, short="sudo refused")
    if a.code == "0":
        return CheckItem(True, f"engine {a.text}")
    if a.code == "socket":
        return CheckItem(True, f"daemon running, {a.text} usable", short="ok")
    if a.code == "nosocket":
        fix = f"`sudo usermod -aG docker {user}`, then log in again (a new SSH session)"
        return CheckItem(False, f"no access to {a.text} for {user}", fix, "no access")
    text = a.text
    if a.code == "127":
        return CheckItem(
            False, "docker not found", "install Docker Engine, e.g. `sudo apt install docker.io`"
        )
    if "permission denied" in text.lower():
        fix = f"`sudo usermod -aG docker {user}`, then log in again (a new SSH session)"
        return CheckItem(False, f"no access to the Docker socket for {user}", fix)
    if "cannot connect" in text.lower() or "is the docker daemon running" in text.lower():
        return CheckItem(False, "the Docker daemon is not running", "`sudo systemctl start docker`")
    return CheckItem(
        False, text or f"docker version exited {a.code}", "check `docker version` on the host"
    )


def _compose(a: Answer | None, host: Host, known: ComposeSeen | None = None) -> CheckItem:
    command = " ".join(host.compose_command)
    if a is None:
        return CheckItem(False, "not checked", None)
    if a.code == "cached":
        if known is None or a.text != known.binary:  # the probe is only told what we hold
            return CheckItem(False, "the probe answered from a cache not held here", "check again")
        version = known.version.removeprefix("v")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(known.asked))
        detail = f"{version} (the plugin binary is unchanged since it answered, {when})"
        return CheckItem(True, detail, short=version)
    if a.code == "0" and a.text:
        return CheckItem(True, a.text.removeprefix("v"))
    if a.code in ("126", "127"):
        fix = (
            "install Compose v2 (e.g. `sudo apt install docker-compose-plugin`) "
            "or set compose_command in the inventory"
        )
        return CheckItem(False, f"`{command}` not found", fix)
    detail = f"`{command} version` exited {a.code}: {a.text or 'no output'}"
    return CheckItem(False, detail, "install Compose v2 or fix compose_command in the inventory")


def _git(a: Answer | None) -> CheckItem:
    if a is not None and a.code == "0":
        return CheckItem(True, a.text or "present", short="yes")
    fix = "`sudo apt install git`, or set `source: push` for this host in the inventory"
    return CheckItem(False, "git not found (the host's source is git)", fix)


def judge(
    host: Host, answers: dict[str, Answer], known: ComposeSeen | None = None
) -> dict[str, CheckItem]:
    """Every item of the probe as ok or failed with the fix; `known` is what the probe was
    told of the compose plugin (its answer stands for the binary when unchanged)."""
    user_answer = answers.get("user")
    user = host.user or (user_answer.text if user_answer else "") or "USER"
    checks = {
        "python3": _python(answers.get("python3")),
        "root": _root(answers.get("root"), host, user),
        "disk": _disk(answers.get("disk")),
        "docker": _docker(answers.get("docker"), user, dockerprobe.engine_word(host)),
        "compose": _compose(answers.get("compose"), host, known),
    }
    if "root" in answers and answers["root"].code == "notdir":
        checks["disk"] = CheckItem(False, "not checked (root is not a folder)", None, "-")
    if host.source == "git":
        checks["git"] = _git(answers.get("git"))
    return checks


def ssh_fix(problem: Problem, host: Host, inventory_arg: str | None = None) -> str:
    """What to do about a host the check could not reach."""
    inv = f" -i {inventory_arg}" if inventory_arg else ""
    again = f"fleet check{inv} --hosts {host.name}"
    where = host.address if host.port in (None, 22) else f"[{host.address}]:{host.port}"
    known = host.known_hosts or "~/.ssh/known_hosts"
    fixes = {
        Problem.HOST_KEY_UNKNOWN: (
            f"first contact: `{again} --accept-new`, or `ssh-keyscan -p {host.port or 22} "
            f"{host.address} >> {known}` after checking the key"
        ),
        Problem.HOST_KEY_CHANGED: (
            f"verify the new key out of band; if legitimate `ssh-keygen -R '{where}' -f {known}`,"
            f" then `{again} --accept-new`"
        ),
        Problem.AUTH_FAILED: (
            f"check user/identity for {host.name} in the inventory, or add your key: "
            f"`ssh-copy-id {'-p ' + str(host.port) + ' ' if host.port else ''}"
            f"{host.user + '@' if host.user else ''}{host.address}`"
        ),
        Problem.CONN_REFUSED: f"start sshd on {host.name} or open port {host.port or 22}",
        Problem.CONN_TIMEOUT: f"check that {host.name} is up and its link works",
        Problem.CONN_RESET: f"check that {host.name} is up and its link works",
        Problem.DNS: f"fix the address of {host.name} in the inventory",
    }
    return fixes.get(problem, f"try `ssh {where}` by hand and see what it says")


# --- running it -----------------------------------------------------------------------


def update_cache(cache: CheckCache, host: Host, out: HostCheck, now: float) -> None:
    """Remember the plugin's answer when an ELF binary gave it, forget it when the probe
    found none or it failed; a probe that said nothing (unreachable, cut) changes nothing."""
    answers = out.answers
    if answers is None:
        return
    compose, plugin = answers.get("compose"), answers.get("plugin")
    item = out.checks.get("compose")
    if compose is not None and compose.code == "cached" and item is not None and item.ok:
        return
    if (
        asks_the_plugin(host)
        and compose is not None
        and compose.code == "0"
        and compose.text
        and plugin is not None
        and plugin.code == "elf"
        and plugin.lines == (plugin.text,)  # one line, as the probe will compare it
    ):
        cache.remember(host, plugin.text, compose.text, now)
    else:
        cache.forget(host)


async def check_host(
    host: Host,
    run: HostRun,
    inventory_arg: str | None = None,
    known: ComposeSeen | None = None,
) -> HostCheck:
    """Connect, run the probe once, judge its answers."""
    out = HostCheck(host.name)
    marker = new_marker()

    async def probe(conn: Connector) -> None:
        script = probe_script(host, marker, known)
        try:
            res = await asyncio.wait_for(conn.run(script), PROBE_TIMEOUT_S)
        except TimeoutError:
            out.error = f"the probe did not finish within {PROBE_TIMEOUT_S:g} s"
            return
        except LinkLost as err:
            out.error = f"link lost during the check: {err}"
            return
        answers = parse_probe(res.stdout.decode(errors="replace"), marker)
        if answers is None:
            stderr = res.stderr.decode(errors="replace").strip().splitlines()
            out.error = f"the probe did not finish (exit {res.exit_status}): " + (
                stderr[-1] if stderr else "no message"
            )
            return
        out.answers = answers
        out.checks.update(judge(host, answers, known))

    result = await run.session(probe)
    if result.status is HostStatus.UNREACHABLE:
        out.status = "unreachable"
        out.error = result.error
        fix = ssh_fix(result.problem, host, inventory_arg)
        out.checks["ssh"] = CheckItem(False, result.error or "unreachable", fix, "unreachable")
        return out
    seen = "local" if host.connection == "local" else "connected, host key trusted"
    out.checks = {"ssh": CheckItem(True, seen, short="ok"), **out.checks}
    failed = [name for name, item in out.checks.items() if not item.ok]
    if out.error is not None or failed:
        out.status = "failed"
        out.error = out.error or "; ".join(f"{n}: {out.checks[n].detail}" for n in failed)
    return out


async def check(
    hosts: Sequence[Host],
    options: EngineOptions,
    *,
    connectors: ConnectorFactory | None = None,
    inventory_arg: str | None = None,
    cache: CheckCache | None = None,
) -> CheckReport:
    """Check every host concurrently; one HostCheck each, never one exception for all.
    With a cache, a host's compose plugin runs only when its binary changed (saved here)."""
    runtime, settings = session_setup(options, "check", connectors=connectors)
    running = asyncio.Semaphore(max(1, options.concurrency))

    async def one(host: Host) -> HostCheck:
        known = cache.known(host) if cache is not None and asks_the_plugin(host) else None
        async with running:
            return await check_host(host, HostRun(host, settings, runtime), inventory_arg, known)

    outcomes = await asyncio.gather(*(one(h) for h in hosts), return_exceptions=True)
    results: dict[str, HostCheck] = {}
    for host, outcome in zip(hosts, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            if isinstance(outcome, KeyboardInterrupt | SystemExit):
                raise outcome
            outcome = HostCheck(
                host.name, "failed", error=f"internal error: {type(outcome).__name__}: {outcome}"
            )
        results[host.name] = outcome
        if cache is not None:
            update_cache(cache, host, outcome, time.time())
    if cache is not None:
        cache.save()
    return CheckReport(results)
