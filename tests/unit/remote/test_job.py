"""The plan: defaults, and every way it can be wrong (exit USAGE, message on stderr)."""

from __future__ import annotations

import json

import pytest

from remote.protocol import DEFAULT_TIMEOUTS, Exit
from remote.run.job import JobError, parse_job
from tests.unit.remote.conftest import FakeHost

BASE = {
    "version": 1,
    "host": "CHELSTY",
    "run_id": "20261127T041500Z-3fa2c1",
    "services": ["relay", "tunnel"],
    "compose_command": ["docker", "compose"],
}


def parse(**changes: object):
    return parse_job(json.dumps(dict(BASE, **changes)), "/opt/homelab")


def test_defaults_fill_missing_timeouts_and_repo() -> None:
    """A partial timeouts block keeps the given keys; repo defaults to R/repo."""
    plan = parse(timeouts={"verify_s": 5})
    assert plan.timeouts == dict(DEFAULT_TIMEOUTS, verify_s=5)
    assert plan.repo == "/opt/homelab/repo"
    assert DEFAULT_TIMEOUTS == {
        "git_pull_s": 20,
        "compose_s": 600,
        "healthcheck_s": 60,
        "verify_s": 60,
    }


def test_compose_command_string_is_split() -> None:
    """A string compose_command becomes argv (shlex rules)."""
    assert parse(compose_command="podman compose").compose_command == ["podman", "compose"]


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"version": 2}, "version"),
        ({"host": ""}, "host"),
        ({"run_id": 7}, "run_id"),
        ({"services": []}, "services"),
        ({"services": ["ok", "bad name"]}, "bad name"),
        ({"services": ["a", "a"]}, "twice"),
        ({"services": ["-dash"]}, "-dash"),
        ({"compose_command": []}, "compose_command"),
        ({"timeouts": {"verify": 5}}, "unknown timeout"),
        ({"timeouts": {"verify_s": 0}}, "positive"),
        ({"timeouts": {"verify_s": True}}, "positive"),
    ],
)
def test_invalid_plans_are_refused(changes: dict, needle: str) -> None:
    """Each broken field is named in the error."""
    with pytest.raises(JobError) as error:
        parse(**changes)
    assert needle in str(error.value)


def test_not_json_is_refused() -> None:
    """Garbage on stdin is a JobError, not a traceback."""
    with pytest.raises(JobError, match="not valid JSON"):
        parse_job("{nope", "/r")


def test_start_with_a_bad_plan_exits_usage_and_writes_nothing(fake_host: FakeHost) -> None:
    """`start` validates the plan first: exit 2, the reason on stderr, nothing on disk."""
    outcome = fake_host.runner("start", "--plan", "-", stdin='{"version": 1}')
    assert outcome.code == Exit.USAGE
    assert "host" in outcome.stderr
    assert not fake_host.root.exists()


def test_run_without_a_plan_exits_usage(fake_host: FakeHost) -> None:
    """No saved plan and no --plan: exit 2 with a message naming the missing file."""
    outcome = fake_host.runner("--resume")
    assert outcome.code == Exit.USAGE
    assert "plan.json" in outcome.stderr
