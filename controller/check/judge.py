"""`fleet check`'s verdicts: each item the probe answered, ok or failed with its fix."""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from typing import Any

from controller.check import dockerprobe
from controller.check.cache import ComposeSeen
from controller.check.probe import Answer
from controller.report.problems import Problem, check_fix
from inventory import Host
from remote.protocol import no_checkout

# Below this the next pull or image build may well fill the disk.
MIN_FREE_KB = 1024 * 1024
MIN_PYTHON = (3, 8)


@dataclass(frozen=True, slots=True)
class CheckItem:
    """One checked thing: whether it passed, what was seen, and what to do if not."""

    ok: bool
    detail: str
    fix: str | None = None
    short: str | None = None  # the table's cell when the detail is long (not in --json)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail, "fix": self.fix}


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


def _git(a: Answer | None, checkout: Answer | None, host: Host) -> CheckItem:
    """git itself, then the checkout it pulls: a host nobody cloned to fails here, not
    at its first deploy's validate."""
    if a is None or a.code != "0":
        fix = "`sudo apt install git`, or set `source: push` for this host in the inventory"
        return CheckItem(False, "git not found (the host's source is git)", fix)
    if checkout is not None and checkout.code == "none":
        clone = f"`git clone URL {shlex.quote(host.repo)}` on the host (URL: the services repo)"
        fix = f"{clone}, or set `source: push` for this host in the inventory"
        return CheckItem(False, no_checkout(host.repo), fix, "no checkout")
    return CheckItem(True, a.text or "present", short="yes")


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
        checks["git"] = _git(answers.get("git"), answers.get("repo"), host)
    return checks


def ssh_fix(problem: Problem, host: Host, inventory_arg: str | None = None) -> str:
    """What to do about a host the check could not reach (report/problems.py's table)."""
    inv = f" -i {inventory_arg}" if inventory_arg else ""
    user = f"{host.user}@" if host.user else ""
    return check_fix(
        problem,
        name=host.name,
        check=f"fleet check{inv} --hosts {host.name}",
        where=host.address if host.port in (None, 22) else f"[{host.address}]:{host.port}",
        known=host.known_hosts or "~/.ssh/known_hosts",
        port=str(host.port or 22),
        address=host.address,
        ssh_target=f"{'-p ' + str(host.port) + ' ' if host.port else ''}{user}{host.address}",
    )
