"""The contract between the controller and the stage-runner.

Both sides import these names; nothing here may import outside the standard
library, and it must stay valid on Python 3.8 (remote/ runs on hosts we do not
control). docs/internals.md explains how the pieces fit together.
"""

# The six stages, in the order the runner runs them. diagnose only runs on failure.
STAGES = ("prepare", "validate", "deploy", "verify", "diagnose", "complete")

# Events after which a run's log gets no more lines.
TERMINAL_EVENTS = ("run_completed", "run_failed")

STRUCT_PREFIX = "[STRUCT] "
# Human lines `<ts> pulling IMAGE for SVC` / `<ts> building IMAGE for SVC`, pushed at once:
# the controller's live view shows them as the host's note while the pull or build goes on.
PULL_PROGRESS = "pulling "
BUILD_PROGRESS = "building "

# Paths below the host root R.
FLEET_DIR = ".fleet"  # R/.fleet: the runner archives and the saved plan
PLAN_FILE = ".fleet/plan.json"
RUNNER_LINK = ".fleet/fleet-runner.pyz"  # symlink to the current hash-named archive
STATE_DIR = "state/deploy"
LOG_DIR = "logs/deploy"
LOCK_FILE = "state/deploy/lock"

PLAN_VERSION = 1

# A plan's optional words (docs/design.md); the first of each is its default.
PULL_POLICIES = ("missing", "always", "never")
SOURCES = ("git", "push")
RUN_KINDS = ("deploy", "resume", "rollback")
# What a failed validate, deploy or verify leads to (remote/run/autorollback.py).
ON_FAILURE = ("stop", "rollback")
# summary.json `status` of a host whose failed run was rolled back to its last good release.
ROLLED_BACK = "rolled_back"
# The run id of that rollback: the failed run's, and this. Its run_failed names it
# (`rollback_run`), and the rollback's events follow in the same log.
ROLLBACK_SUFFIX = "-rollback"
# Why a failed run was not rolled back on a host with no release yet (the controller
# says "failed", not "rolled back").
NOTHING_TO_ROLL_BACK = "nothing to roll back to (no release recorded on this host)"

# Plan keys the runner pops before it stores the plan: the decrypted .env text per service
# (deploy; written to R/config/<svc>/.env, kept in memory only) and its sha256 (preview).
SECRETS_KEY = "secrets"
SECRET_HASHES_KEY = "secret_hashes"  # noqa: S105 (a plan key)


def runner_name(sha256_hex):
    # type: (str) -> str
    """File name of a runner archive inside R/.fleet, named by its content hash."""
    return "fleet-runner-%s.pyz" % sha256_hex[:16]


def no_checkout(repo):
    # type: (str) -> str
    """What a `source: git` host without a checkout of the services repo is told, by
    `fleet check` and by prepare alike (R/repo has no .git and no services/)."""
    return (
        "no git checkout at %s: this host's source is git, so it needs a clone of the "
        "services repo there (`git clone URL %s`), or `source: push` in the inventory"
        % (repo, repo)
    )


class Exit(object):
    """Exit codes of the runner's commands (`run`, `start`, `follow`, `status`)."""

    OK = 0  # run completed (or was already complete); follow saw run_completed
    FAILED = 1  # a stage failed; follow saw run_failed
    USAGE = 2  # bad arguments or an unreadable/invalid plan
    LOCKED = 3  # another run holds the host's lock; refused, nothing changed
    VANISHED = 4  # follow: the run's process is gone and its log has no terminal event
    NO_RUNNER = 97  # from the controller's shell guard: this runner hash is not on the host
    OLD_PYTHON = 98  # the host's python3 is older than 3.8


# Timeouts a plan may set (seconds); a plan's partial `timeouts` takes these for the rest.
DEFAULT_TIMEOUTS = {"git_pull_s": 20, "compose_s": 600, "healthcheck_s": 60, "verify_s": 60}

# A service name (docs/design.md); it is also the compose project name.
SERVICE_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"

# `status` of a summary.json that says `running` while no process holds the lock.
INTERRUPTED = "interrupted"
# `status` of the one run_failed line printed when the lock is held by another run.
REFUSED = "refused"
