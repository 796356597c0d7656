"""The job's secrets on the host: popped from the plan before it is saved, written to
R/config/<svc>/.env (0600) only when they differ."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from remote.run.job import JobError, parse_job
from remote.run.secrets import env_hash, env_path, write_secrets


def plan(**more: object) -> str:
    base = {"version": 1, "host": "nas", "run_id": "r1", "services": ["web", "db"]}
    return json.dumps({**base, **more})


def test_secrets_are_popped_from_the_plan_that_is_saved(tmp_path: Path) -> None:
    job = parse_job(plan(secrets={"web": "TOKEN=x1y2z3\n"}, secret_hashes={"db": "ab"}), "/r")
    assert job.secrets == {"web": "TOKEN=x1y2z3\n"} and job.secret_hashes == {"db": "ab"}
    assert "secrets" not in job.raw and "secret_hashes" not in job.raw
    assert "x1y2z3" not in json.dumps(job.raw)


def test_secrets_for_other_services_or_not_text_are_refused_without_the_value() -> None:
    with pytest.raises(JobError, match="cache") as err:
        parse_job(plan(secrets={"cache": "TOKEN=x1y2z3"}), "/r")
    assert "x1y2z3" not in str(err.value)
    with pytest.raises(JobError, match="secrets"):
        parse_job(plan(secrets={"web": 5}), "/r")


def test_only_a_differing_env_is_written_and_it_is_private(tmp_path: Path) -> None:
    root = str(tmp_path)
    assert write_secrets(root, {"web": "A=1\n", "db": "B=2\n"}) == ["db", "web"]
    assert os.stat(env_path(root, "web")).st_mode & 0o777 == 0o600
    before = os.stat(env_path(root, "db")).st_mtime_ns
    os.chmod(env_path(root, "db"), 0o644)
    assert write_secrets(root, {"web": "A=2\n", "db": "B=2\n"}) == ["web"]
    assert os.stat(env_path(root, "db")).st_mtime_ns == before
    assert os.stat(env_path(root, "db")).st_mode & 0o777 == 0o600
    assert Path(env_path(root, "web")).read_text() == "A=2\n"
    assert env_hash(root, "cache") is None and env_hash(root, "web") is not None
