"""Why a host did not complete, and the one table from each reason to its advice.

The report's next command (report/view.py), the live view's hints and `fleet check`'s
fixes (check/judge.py) all read ADVICE: a reason's advice is written once, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Problem(str, Enum):
    """Why a host did not complete, in a form the view turns into the next command."""

    NONE = "none"
    STAGE_FAILED = "stage_failed"
    REFUSED_LOCKED = "refused_locked"
    RUN_VANISHED = "run_vanished"
    NO_PYTHON = "no_python"
    OLD_PYTHON = "old_python"
    RUNNER_ERROR = "runner_error"
    CONN_REFUSED = "conn_refused"
    CONN_TIMEOUT = "conn_timeout"
    CONN_RESET = "conn_reset"
    AUTH_FAILED = "auth_failed"
    HOST_KEY_CHANGED = "host_key_changed"
    HOST_KEY_UNKNOWN = "host_key_unknown"
    DNS = "dns"
    SSH_ERROR = "ssh_error"
    LINK_LOST = "link_lost"
    NEVER_DEPLOYED = "never_deployed"
    ROOT_NOT_WRITABLE = "root_not_writable"
    """The SSH user may not write the host's root (permission denied)."""
    READ_ONLY_FS = "read_only_fs"
    """The root is on a read-only file system."""
    NO_SPACE = "no_space"
    """The root's disk is full (or the user's quota is spent)."""
    TRANSFER_FAILED = "transfer_failed"
    """A file could not be written or read on the host for another reason."""
    NO_DOCKER_ACCESS = "no_docker_access"
    """The SSH user cannot reach the Docker daemon's socket (not in the docker group)."""
    PUSH_FAILED = "push_failed"
    SECRET_UNREADABLE = "secret_unreadable"  # noqa: S105 (a reason's name, not a password)
    """A secrets/ file the controller cannot decrypt (wrong identity, corrupt, not age)."""
    ROLLED_BACK = "rolled_back"
    """A stage failed and the host went back to its last good release (on_failure)."""
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class Advice:
    """What to do about a reason, as the report says it (before `, then: AGAIN`, or the
    whole next command when `then` is False), as `fleet check` says it (`fix`), and as
    a failed file transfer's cause says it (`hint`).

    Placeholders: {name} the host, {again} the command to run again, {deploy} a deploy
    of this host, {resume}, {check} a check of this host, {port}, {address}, {where}
    (address[:port] as known_hosts writes it), {known} its known_hosts, {ssh_target}."""

    report: str | None = None
    then: bool = True
    fix: str | None = None
    hint: str | None = None  # a file the host could not write: what to do ({user})


ADVICE: dict[Problem, Advice] = {
    Problem.ROLLED_BACK: Advice(
        "{name} runs its last good release again; fix the failed service (see "
        "diagnostics), then: {deploy}",
        then=False,
    ),
    Problem.REFUSED_LOCKED: Advice(
        "another run holds the lock; wait for it, or follow it with: {resume}", then=False
    ),
    Problem.NO_PYTHON: Advice("install python3 >= 3.8 on {name}"),
    Problem.OLD_PYTHON: Advice("install python3 >= 3.8 on {name}"),
    Problem.CONN_REFUSED: Advice(
        "start sshd on {name} (connection refused)",
        fix="start sshd on {name} or open port {port}",
    ),
    Problem.CONN_TIMEOUT: Advice(
        "check that {name} is up and its link works",
        fix="check that {name} is up and its link works",
    ),
    Problem.CONN_RESET: Advice(
        "check that {name} is up and its link works",
        fix="check that {name} is up and its link works",
    ),
    Problem.AUTH_FAILED: Advice(
        "check user/identity for {name} in the inventory",
        fix=(
            "check user/identity for {name} in the inventory, or add your key: "
            "`ssh-copy-id {ssh_target}`"
        ),
    ),
    Problem.HOST_KEY_CHANGED: Advice(
        "verify {name}'s new host key out of band; if it is legitimate remove the old "
        "entry with ssh-keygen -R, then: {deploy} --accept-new",
        then=False,
        fix=(
            "verify the new key out of band; if legitimate `ssh-keygen -R '{where}' -f {known}`,"
            " then `{check} --accept-new`"
        ),
    ),
    Problem.HOST_KEY_UNKNOWN: Advice(
        "first contact: {deploy} --accept-new",
        then=False,
        fix=(
            "first contact: `{check} --accept-new`, or `ssh-keyscan -p {port} "
            "{address} >> {known}` after checking the key"
        ),
    ),
    Problem.DNS: Advice(
        "fix the address of {name} in the inventory",
        fix="fix the address of {name} in the inventory",
    ),
    Problem.NEVER_DEPLOYED: Advice("{deploy}", then=False),
    Problem.ROOT_NOT_WRITABLE: Advice(
        "give {name}'s user the root folder (or set root: in the inventory)",
        hint="give {user} the root folder, or set root: in the inventory",
    ),
    Problem.READ_ONLY_FS: Advice(
        "make {name}'s root writable (or set root: in the inventory)",
        hint="remount it read-write, or set root: in the inventory to a writable folder",
    ),
    Problem.NO_SPACE: Advice(
        "free space under {name}'s root (or set root: elsewhere)",
        hint="free some space on the host, or set root: in the inventory to a larger disk",
    ),
    Problem.SECRET_UNREADABLE: Advice(
        "give the age identity that decrypts it (--age-identity FILE), or fix the file "
        "with `fleet secrets edit`"
    ),
    Problem.NO_DOCKER_ACCESS: Advice(
        "add {name}'s user to the docker group (usermod -aG docker USER)"
    ),
}
DEFAULT_ADVICE = Advice("see the host's log", fix="try `ssh {where}` by hand and see what it says")


def report_advice(problem: Problem, **words: str) -> str:
    """The report's next command for a host that failed for this reason."""
    advice = ADVICE.get(problem, DEFAULT_ADVICE)
    text = (advice.report or DEFAULT_ADVICE.report or "").format(**words)
    return f"{text}, then: {words['again']}" if advice.then else text


def check_fix(problem: Problem, **words: str) -> str:
    """`fleet check`'s fix for a host it could not reach for this reason."""
    advice = ADVICE.get(problem)
    fix = advice.fix if advice is not None and advice.fix else DEFAULT_ADVICE.fix
    return (fix or "").format(**words)


def transfer_hint(problem: Problem, user: str) -> str:
    """What to do about a file the host could not write for this reason."""
    advice = ADVICE.get(problem)
    return (advice.hint if advice is not None and advice.hint else "").format(user=user)
