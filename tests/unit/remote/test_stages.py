"""Each stage of a run, driven end to end through the runner with a fake compose."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from remote.protocol import Exit, no_checkout
from tests.unit.remote.conftest import FakeHost


def stage_events(outcome, stage: str) -> list[str]:
    return [e["event"] for e in outcome.events if e.get("stage") == stage]


# ---- a run as a whole --------------------------------------------------------------------


def test_successful_run_walks_the_stages_in_order(three_services: FakeHost) -> None:
    """A clean run starts, runs the five stages but diagnose, and completes with exit OK."""
    outcome = three_services.run()
    assert outcome.code == Exit.OK
    started = [e["stage"] for e in outcome.named("stage_started")]
    assert started == ["prepare", "validate", "deploy", "verify", "complete"]
    assert outcome.kinds()[0] == "run_started"
    assert outcome.kinds()[-1] == "run_completed"
    assert three_services.deployed() == ["alpha", "bravo", "charlie"]


def test_run_started_is_the_first_log_line_and_names_the_log(three_services: FakeHost) -> None:
    """The controller learns the log path from the first line of the log itself."""
    outcome = three_services.run()
    log = Path(outcome.events[0]["path"])
    assert log.parent == three_services.logs
    assert re.fullmatch(r"deploy_\d{8}T\d{6}Z(-\d+)?\.log", log.name)
    first = log.read_bytes().splitlines()[0]
    assert first.startswith(b"[STRUCT] ") and b'"event":"run_started"' in first


def test_log_file_holds_every_line_printed(three_services: FakeHost) -> None:
    """Foreground output and the run log are the same bytes."""
    outcome = three_services.run()
    log = Path(outcome.events[0]["path"])
    assert log.read_bytes() == outcome.stdout


def test_terminal_event_is_the_last_line_after_the_host_summary(three_services: FakeHost) -> None:
    """The summary (status, last stage, log, diagnostics) precedes run_completed."""
    outcome = three_services.run()
    lines = outcome.stdout.decode().splitlines()
    assert '"event":"run_completed"' in lines[-1]
    text = "\n".join(lines[-8:])
    for label in ("status:      completed", "last stage:  complete", "log:", "diagnostics: none"):
        assert label in text


def test_current_stage_and_markers_after_success(three_services: FakeHost) -> None:
    """Every stage but diagnose leaves its marker; current_stage ends at complete."""
    three_services.run()
    markers = sorted(p.name for p in three_services.state.glob("stage_*_complete"))
    assert markers == sorted(
        f"stage_{s}_complete" for s in ("prepare", "validate", "deploy", "verify", "complete")
    )
    assert (three_services.state / "current_stage").read_text() == "complete\n"
    assert (three_services.state / "last_service").read_text() == "charlie\n"


def test_summary_json_after_success(three_services: FakeHost) -> None:
    """summary.json records the outcome with every key of the internals contract."""
    outcome = three_services.run()
    summary = three_services.summary()
    assert set(summary) == {
        "host", "run_id", "status", "last_stage", "failed_stage", "failed_service",
        "services", "log", "diagnostics", "error", "started", "finished", "duration_s",
    }  # fmt: skip
    assert summary["status"] == "completed"
    assert summary["services"] == {
        "alpha": "completed",
        "bravo": "completed",
        "charlie": "completed",
    }
    assert summary["log"] == outcome.events[0]["path"]
    assert summary["diagnostics"] is None and summary["error"] is None


# ---- prepare -----------------------------------------------------------------------------


def test_prepare_accepts_a_repo_that_is_not_a_checkout(three_services: FakeHost) -> None:
    """A plain folder is deployed as it is, and the stage says so."""
    outcome = three_services.run()
    done = next(e for e in outcome.named("stage_completed") if e["stage"] == "prepare")
    assert "not a git checkout" in done["message"]
    assert not outcome.named("warning")


def test_prepare_fails_at_once_on_a_git_host_without_a_checkout(fake_host: FakeHost) -> None:
    """No R/repo at all (a git host nobody cloned to): prepare fails, saying to clone
    or to push, before validate could call it a missing compose.yaml."""
    fake_host.services.append("alpha")
    outcome = fake_host.run()
    assert outcome.code == Exit.FAILED
    failed = outcome.named("stage_failed")
    assert [e["stage"] for e in failed] == ["prepare"]
    repo = str(fake_host.root / "repo")
    assert failed[0]["message"] == no_checkout(repo)
    assert (
        f"git clone URL {repo}" in failed[0]["message"] and "source: push" in failed[0]["message"]
    )
    assert "compose.yaml" not in outcome.stdout.decode()


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_checkout(host: FakeHost, remote_url: str) -> None:
    repo = host.root / "repo"
    git("init", "-q", "-b", "main", cwd=repo)
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", ".", cwd=repo)
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "services", cwd=repo)
    git("remote", "add", "origin", remote_url, cwd=repo)
    git("config", "branch.main.remote", "origin", cwd=repo)
    git("config", "branch.main.merge", "refs/heads/main", cwd=repo)


def test_prepare_unreachable_remote_is_a_warning_and_the_run_goes_on(
    three_services: FakeHost,
) -> None:
    """A failed git pull (remote unreachable) warns and deploys from the local checkout."""
    make_checkout(three_services, "ssh://nobody@127.0.0.1:1/nowhere.git")
    outcome = three_services.run()
    assert outcome.code == Exit.OK
    warnings = outcome.named("warning")
    assert len(warnings) == 1 and warnings[0]["stage"] == "prepare"
    assert "git pull --ff-only" in warnings[0]["message"]
    assert "local checkout" in warnings[0]["message"]
    assert "Connection refused" in warnings[0]["message"]
    assert three_services.deployed() == ["alpha", "bravo", "charlie"]


def test_prepare_pulls_a_reachable_remote(three_services: FakeHost, tmp_path: Path) -> None:
    """A checkout whose upstream answers is fast-forwarded before deploying."""
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git("init", "-q", "-b", "main", cwd=upstream)
    (upstream / "services" / "delta").mkdir(parents=True)
    (upstream / "services" / "delta" / "compose.yaml").write_text("services: {}\n")
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", ".", cwd=upstream)
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "delta", cwd=upstream)
    repo = three_services.root / "repo"
    for child in repo.iterdir():
        subprocess.run(["rm", "-rf", str(child)], check=True)
    repo.rmdir()
    subprocess.run(["git", "clone", "-q", str(upstream), str(repo)], check=True)
    (upstream / "services" / "echo").mkdir()
    (upstream / "services" / "echo" / "compose.yaml").write_text("services: {}\n")
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", ".", cwd=upstream)
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "echo", cwd=upstream)
    three_services.services = ["delta", "echo"]
    outcome = three_services.run()
    assert outcome.code == Exit.OK, outcome.stdout.decode()
    assert (repo / "services" / "echo" / "compose.yaml").exists()
    assert not outcome.named("warning")


# ---- validate ----------------------------------------------------------------------------


def test_validate_missing_definition_fails_before_anything_starts(fake_host: FakeHost) -> None:
    """A service without compose.yaml/docker-compose.yml fails validate; nothing is up'd."""
    fake_host.add_service("alpha")
    fake_host.add_service("ghost", definition="")
    outcome = fake_host.run()
    assert outcome.code == Exit.FAILED
    failed = outcome.named("service_failed")
    assert [(e["stage"], e["service"]) for e in failed] == [("validate", "ghost")]
    assert "ghost" in failed[0]["message"] and "compose.yaml" in failed[0]["message"]
    stage_failed = outcome.named("stage_failed")[0]
    assert stage_failed["stage"] == "validate" and stage_failed["service"] == "ghost"
    assert fake_host.calls("up") == []
    assert outcome.named("run_failed")[0]["stage"] == "validate"


def test_validate_compose_error_names_service_and_cause(fake_host: FakeHost) -> None:
    """`compose config` failing fails validate with compose's own error."""
    fake_host.add_service("alpha")
    fake_host.control = {"fail": {"config": ["alpha"]}, "stderr": "yaml: line 3: bad indent"}
    outcome = fake_host.run()
    message = outcome.named("service_failed")[0]["message"]
    assert "alpha" in message and "yaml: line 3: bad indent" in message
    assert fake_host.calls("up") == []


def test_validate_passes_override_and_env_file_to_config(fake_host: FakeHost) -> None:
    """One `config --format json` per service checks the merged definition with the
    host's override and .env, and serves prepare's images and deploy's fingerprint."""
    folder = fake_host.add_service("alpha", env="A=1\n", override=True)
    fake_host.run()
    configs = fake_host.calls("config")
    assert len(configs) == 1
    argv = configs[0]["argv"]
    config = fake_host.root / "config" / "alpha"
    assert argv == [
        "-p", "alpha",
        "-f", str(folder / "compose.yaml"),
        "-f", str(config / "docker-compose.override.yml"),
        "--env-file", str(config / ".env"),
        "config", "--format", "json",
    ]  # fmt: skip


def test_validate_prefers_compose_yaml_over_docker_compose_yml(fake_host: FakeHost) -> None:
    """When both definitions exist, compose.yaml is the one used."""
    folder = fake_host.add_service("alpha", definition="docker-compose.yml")
    (folder / "compose.yaml").write_text("services: {}\n")
    fake_host.run()
    assert fake_host.calls("up")[0]["argv"][3] == str(folder / "compose.yaml")


def test_validate_accepts_docker_compose_yml(fake_host: FakeHost) -> None:
    """docker-compose.yml alone is a valid definition."""
    folder = fake_host.add_service("alpha", definition="docker-compose.yml")
    assert fake_host.run().code == Exit.OK
    assert fake_host.calls("up")[0]["argv"][3] == str(folder / "docker-compose.yml")


# ---- deploy ------------------------------------------------------------------------------


def test_deploy_argv_for_a_plain_service(fake_host: FakeHost) -> None:
    """Without override or .env: -p <svc> -f <def> up -d --remove-orphans --pull never."""
    folder = fake_host.add_service("alpha")
    fake_host.run()
    assert fake_host.calls("up")[0]["argv"] == [
        "-p", "alpha", "-f", str(folder / "compose.yaml"), "up", "-d", "--remove-orphans",
        "--pull", "never",
    ]  # fmt: skip


def test_deploy_events_per_service(three_services: FakeHost) -> None:
    """service_started then service_completed (with duration) for each, in order."""
    outcome = three_services.run()
    deploy = [e for e in outcome.events if e.get("stage") == "deploy" and "service" in e]
    assert [(e["event"], e["service"]) for e in deploy] == [
        ("service_started", "alpha"), ("service_completed", "alpha"),
        ("service_started", "bravo"), ("service_completed", "bravo"),
        ("service_started", "charlie"), ("service_completed", "charlie"),
    ]  # fmt: skip
    assert all(isinstance(e["duration_ms"], int) for e in outcome.named("service_completed"))


def test_deploy_failure_stops_at_the_failed_service(three_services: FakeHost) -> None:
    """bravo failing: alpha stays done (last_service), charlie is never started."""
    three_services.control = {"fail": {"up": ["bravo"]}, "stderr": "no such image: nope:1"}
    outcome = three_services.run()
    assert outcome.code == Exit.FAILED
    assert three_services.deployed() == ["alpha", "bravo"]
    assert (three_services.state / "last_service").read_text() == "alpha\n"
    assert not (three_services.state / "stage_deploy_complete").exists()
    failed = outcome.named("service_failed")[0]
    assert failed["service"] == "bravo" and "no such image: nope:1" in failed["message"]
    summary = three_services.summary()
    assert summary["services"] == {"alpha": "completed", "bravo": "failed", "charlie": "pending"}
    assert (summary["failed_stage"], summary["failed_service"]) == ("deploy", "bravo")
    run_failed = outcome.named("run_failed")[0]
    assert (run_failed["stage"], run_failed["service"]) == ("deploy", "bravo")


def test_deploy_timeout_fails_the_service(fake_host: FakeHost) -> None:
    """A compose up slower than compose_s is killed and fails with a timeout message."""
    fake_host.add_service("alpha")
    fake_host.timeouts["compose_s"] = 0.5
    fake_host.control = {"sleep": {"up": {"alpha": 30}}}
    outcome = fake_host.run()
    assert outcome.code == Exit.FAILED
    assert "timed out after 0.5s" in outcome.named("service_failed")[0]["message"]


def test_compose_command_is_split_argv(fake_host: FakeHost) -> None:
    """compose_command given as a string is split (e.g. `podman compose`), never a shell."""
    fake_host.add_service("alpha")
    plan = fake_host.plan()
    fake_host.write_plan(compose_command=" ".join(plan["compose_command"]))
    assert fake_host.run().code == Exit.OK
    assert fake_host.deployed() == ["alpha"]


# ---- verify ------------------------------------------------------------------------------


def test_verify_runs_healthcheck_sh_in_the_service_folder(fake_host: FakeHost) -> None:
    """healthcheck.sh runs with sh, in its service folder; exit 0 is healthy."""
    folder = fake_host.add_service("alpha", healthcheck="pwd > where.txt\nexit 0\n")
    # No containers would fail the container check: the script replaces it. (complete
    # still lists them once, for the release record.)
    fake_host.control = {"no_containers": ["alpha"]}
    outcome = fake_host.run()
    assert outcome.code == Exit.OK
    assert (folder / "where.txt").read_text().strip() == str(folder)
    assert len(fake_host.calls("ps")) == 1


def test_verify_failing_healthcheck_fails_the_service(fake_host: FakeHost) -> None:
    """healthcheck.sh exiting 1 (until verify_s runs out) fails verify for its service."""
    fake_host.add_service("alpha")
    fake_host.add_service("bravo", healthcheck="echo 'port 80 closed'\nexit 1\n")
    outcome = fake_host.run()
    assert outcome.code == Exit.FAILED
    failed = outcome.named("service_failed")[0]
    assert (failed["stage"], failed["service"]) == ("verify", "bravo")
    assert "healthcheck.sh exited 1" in failed["message"] and "port 80 closed" in failed["message"]
    assert fake_host.summary()["failed_stage"] == "verify"


def test_verify_healthcheck_timeout(fake_host: FakeHost) -> None:
    """A hanging healthcheck.sh is stopped after healthcheck_s."""
    fake_host.add_service("alpha", healthcheck="sleep 30\n")
    fake_host.timeouts["healthcheck_s"] = 0.3
    outcome = fake_host.run()
    assert "healthcheck.sh timed out" in outcome.named("service_failed")[0]["message"]


def test_verify_checks_containers_running(fake_host: FakeHost) -> None:
    """Without healthcheck.sh: a container that is not running fails verify."""
    fake_host.add_service("alpha")
    fake_host.control = {"state": {"alpha": "exited"}}
    outcome = fake_host.run()
    message = outcome.named("service_failed")[0]["message"]
    assert "alpha-app-1 is" in message and "not healthy after" in message


def test_verify_checks_container_health(fake_host: FakeHost) -> None:
    """A running but unhealthy container fails verify."""
    fake_host.add_service("alpha")
    fake_host.control = {"health": {"alpha": "unhealthy"}}
    outcome = fake_host.run()
    assert "alpha-app-1 is unhealthy" in outcome.named("service_failed")[0]["message"]


def test_verify_no_containers_is_a_failure(fake_host: FakeHost) -> None:
    """A project with no containers at all is not healthy."""
    fake_host.add_service("alpha")
    fake_host.control = {"no_containers": ["alpha"]}
    outcome = fake_host.run()
    assert "no containers" in outcome.named("service_failed")[0]["message"]


def test_verify_reports_only_failures_as_service_events(three_services: FakeHost) -> None:
    """service_completed/skipped stay deploy's (what the run did); verify logs healthy
    services as human lines and only emits service_failed."""
    three_services.control = {"state": {"bravo": "exited"}}
    outcome = three_services.run()
    verify = [e for e in outcome.events if e.get("stage") == "verify" and "service" in e]
    assert [(e["event"], e["service"]) for e in verify] == [
        ("service_failed", "bravo"),
        ("stage_failed", "bravo"),
        ("run_failed", "bravo"),
    ]
    assert "alpha: healthy" in outcome.stdout.decode()


def test_verify_checks_every_service_before_failing(three_services: FakeHost) -> None:
    """Two unhealthy services are both reported, the first one named in run_failed."""
    three_services.control = {"state": {"alpha": "exited", "charlie": "exited"}}
    outcome = three_services.run()
    assert [e["service"] for e in outcome.named("service_failed")] == ["alpha", "charlie"]
    assert outcome.named("run_failed")[0]["service"] == "alpha"
    assert "1 more" in outcome.named("run_failed")[0]["message"]


# ---- diagnose and complete ---------------------------------------------------------------


def test_diagnose_runs_only_when_a_stage_failed(three_services: FakeHost) -> None:
    """A clean run has no diagnose stage and no diagnostics file."""
    outcome = three_services.run()
    assert stage_events(outcome, "diagnose") == []
    assert list(three_services.logs.glob("diagnostics_*")) == []


def test_diagnose_collects_everything_into_one_file(three_services: FakeHost) -> None:
    """On failure: containers, logs of the failed service first then all, disk, memory,
    the run log's tail; a diagnostics_collected event carries the file's path."""
    three_services.control = {"fail": {"up": ["bravo"]}}
    outcome = three_services.run()
    assert stage_events(outcome, "diagnose") == [
        "stage_started",
        "diagnostics_collected",
        "stage_completed",
    ]
    path = Path(outcome.named("diagnostics_collected")[0]["path"])
    assert re.fullmatch(r"diagnostics_\d{8}T\d{6}Z(-\d+)?\.txt", path.name)
    text = path.read_text()
    assert text.index("containers of bravo") < text.index("containers of alpha")
    for needle in (
        "failed service: bravo",
        "logs of charlie",
        "hello from alpha",
        "disk (df -h)",
        "MemTotal",
        "run log (last",
        '"event":"stage_failed"',
    ):
        assert needle in text
    logs_argv = fake_logs = three_services.calls("logs")
    assert fake_logs and all(
        c["argv"][-4:] == ["logs", "--no-color", "--tail", "50"] for c in logs_argv
    )
    assert three_services.summary()["diagnostics"] == str(path)
    assert outcome.named("run_failed")[0]["path"] == str(path)


def test_failed_run_summary_names_stage_service_and_diagnostics(three_services: FakeHost) -> None:
    """The host summary of a failed run says where it failed and where to look."""
    three_services.control = {"fail": {"up": ["bravo"]}}
    outcome = three_services.run()
    text = outcome.stdout.decode()
    assert "status:      failed" in text
    assert "last stage:  deploy (failed at service bravo)" in text
    assert "diagnostics: " + outcome.named("diagnostics_collected")[0]["path"] in text
    assert outcome.named("run_failed")[0]["message"].startswith("deploy failed: service bravo")
