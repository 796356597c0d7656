"""The runner's read-only preview (`fleet plan` on the host): its judgements, piece by piece."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from remote.docker import engine_api, registry
from remote.docker.registry import pull_check
from remote.preview import changed_keys, git_preview, preview
from remote.run.job import parse_job
from tests.unit.remote.test_source import a_file, manifest, pushed

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("busybox", ("registry-1.docker.io", "library/busybox", "latest")),
        ("grafana/grafana:11", ("registry-1.docker.io", "grafana/grafana", "11")),
        ("127.0.0.1:5000/x/y:2", ("127.0.0.1:5000", "x/y", "2")),
        ("ghcr.io/o/app", ("ghcr.io", "o/app", "latest")),
        ("localhost/app:1", ("localhost", "app", "1")),
    ],
)
def test_image_references_split_as_docker_splits_them(image: str, expected: Any) -> None:
    """The first part is a registry only with a dot, a colon or `localhost`."""
    assert registry.split_reference(image) == expected


def test_changed_keys_names_environment_keys_and_never_their_values() -> None:
    """An env value that changed is named by its key; the secret value never appears."""
    definition = {
        "image": "app:2",
        "command": ["serve", "--token", "n3w-secret"],
        "environment": {"TOKEN": "n3w-secret", "SAME": "1"},
        "ports": [{"target": 80, "published": "8080", "protocol": "tcp"}],
    }
    container = {
        "Config": {
            "Image": "app:1",
            "Cmd": ["serve"],
            "Env": ["TOKEN=old-secret", "SAME=1", "GONE=x"],
        },
        "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8081"}]}},
    }
    changes = changed_keys(definition, container, {"Config": {"Env": ["PATH=/bin"]}})
    assert changes == ["image app:1 -> app:2", "command", "environment (GONE, TOKEN)", "ports"]
    assert "secret" not in " ".join(changes)


def test_changed_keys_is_empty_for_a_container_that_matches() -> None:
    """Same image, env and ports: nothing named (the hash then speaks for itself)."""
    definition = {"image": "a:1", "environment": {"A": "1"}, "ports": []}
    container = {"Config": {"Image": "a:1", "Env": ["A=1", "PATH=/bin"]}, "HostConfig": {}}
    assert changed_keys(definition, container, {"Config": {"Env": ["PATH=/bin"]}}) == []


NOT_ASKED = [
    ("a:1", "never", None, None, "pull policy never"),
    ("a:1", "missing", None, "absent from the host", "any pull brings it"),
    ("a:1", "missing", {"RepoDigests": []}, None, "pull policy missing"),
    ("a@" + DIGEST, "always", {"RepoDigests": []}, None, "pinned by digest"),
    ("a:1", "refresh", {"RepoDigests": []}, "may pull (its pull_policy", "on a schedule"),
    ("a:1", "always", {"unknown": "may pull (no docker)"}, "may pull (no docker)", "listed"),
]


@pytest.mark.parametrize(("image", "policy", "local", "pull", "why"), NOT_ASKED)
def test_where_a_deploy_would_not_pull_a_present_image_the_registry_is_not_asked(
    monkeypatch: pytest.MonkeyPatch, image: str, policy: str, local: Any, pull: Any, why: str
) -> None:
    """never, absent, missing, pinned, refresh: the pull reason as before, and the entry
    says why the registry was not asked (and asks nothing)."""
    asked = fake_engine(monkeypatch, [], (None, None))
    reason, entry = pull_check(image, policy, local, {})
    assert reason == pull or (pull and reason and reason.startswith(pull)), reason
    assert entry["asked"] is False and entry["state"] is None and why in entry["why"], entry
    assert entry["policy"] == policy and asked == []


def fake_engine(
    monkeypatch: pytest.MonkeyPatch, local: list[str], remote: tuple[Any, Any]
) -> list[str]:
    """The engine's socket: the image's RepoDigests, and the registry's answer (asked: listed)."""
    asked: list[str] = []

    def request(path: str, timeout: float = 0) -> tuple[Any, Any]:
        asked.append(path)
        return remote

    monkeypatch.setattr(engine_api, "image", lambda ref: (True, {"RepoDigests": local}))
    monkeypatch.setattr(engine_api, "request", request)
    return asked


IMAGE = "127.0.0.1:5000/app:latest"
PRESENT = {"RepoDigests": ["127.0.0.1:5000/app@" + DIGEST]}


def test_always_asks_the_registry_the_same_digest_pulls_nothing_another_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_engine(monkeypatch, PRESENT["RepoDigests"], (200, {"Descriptor": {"digest": DIGEST}}))
    reason, entry = pull_check(IMAGE, "always", PRESENT, {})
    assert reason is None and entry["asked"] is True and entry["state"] == "current"
    assert entry["local_digest"] == entry["registry_digest"] == DIGEST
    assert "pull policy always" in entry["why"]
    fake_engine(monkeypatch, PRESENT["RepoDigests"], (200, {"Descriptor": {"digest": OTHER}}))
    reason, entry = pull_check(IMAGE, "always", PRESENT, {})
    assert reason == f"the registry has another image ({OTHER[:19]})"
    assert (entry["state"], entry["registry_digest"]) == ("update", OTHER)


def test_a_registry_that_does_not_answer_is_unknown_and_asked_once_per_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An error: unknown with the registry's reason (may pull); silence: the host's other
    images of that registry are not asked again."""
    fake_engine(monkeypatch, PRESENT["RepoDigests"], (500, {"message": "connection refused"}))
    reason, entry = pull_check(IMAGE, "always", PRESENT, {})
    assert entry["state"] == "unknown" and "connection refused" in entry["reason"]
    assert reason == "may pull (the registry did not tell its digest: connection refused)"
    asked = fake_engine(monkeypatch, PRESENT["RepoDigests"], (None, None))
    known: dict[Any, Any] = {}
    for image in (IMAGE, "127.0.0.1:5000/other:1"):
        _, entry = pull_check(image, "always", PRESENT, known)
        assert entry["state"] == "unknown" and "no answer within" in entry["reason"]
    assert len(asked) == 1


def test_an_image_imported_here_asks_no_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = fake_engine(monkeypatch, [], (200, {"Descriptor": {"digest": DIGEST}}))
    reason, entry = pull_check("fleet-test/app:1", "always", {"RepoDigests": []}, {})
    assert entry["asked"] is False and entry["reason"] == registry.NOT_PULLED and asked == []
    assert reason is not None and reason.startswith("may pull")


def test_without_the_engine_socket_nothing_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """docker only through sudo: the engine's socket is not ours; unknown, and why."""
    asked = fake_engine(monkeypatch, [], (None, None))
    monkeypatch.setattr(engine_api, "image", lambda ref: (False, None))
    reason, entry = pull_check(IMAGE, "always", PRESENT, {})
    assert entry["asked"] is False and entry["reason"] == registry.NO_SOCKET and asked == []
    assert reason == f"may pull ({registry.NO_SOCKET})"


class _Service:
    """What _judge_images reads and writes of a service's preview."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.images: dict[str, str] = {}
        self.digests: dict[str, dict[str, Any]] = {}

    def judge(self, local: Any, inspect: Any) -> None:
        pass


def test_each_image_is_asked_once_per_host_and_every_service_says_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two services on one image under `always`: one registry question, both entries;
    a third whose own pull_policy is never: not asked."""
    import remote.preview as module

    asked = fake_engine(
        monkeypatch, PRESENT["RepoDigests"], (200, {"Descriptor": {"digest": OTHER}})
    )
    monkeypatch.setattr(module, "local_images", lambda images, timeout: {IMAGE: PRESENT})
    services = [_Service({"web": {"image": IMAGE}}) for _ in range(2)]
    services.append(_Service({"web": {"image": IMAGE, "pull_policy": "never"}}))
    job = parse_job(
        '{"version": 1, "host": "h", "run_id": "r", "services": ["a"], "pull": "always"}', "/R"
    )
    module._judge_images(services, job)  # type: ignore[arg-type]
    assert len(asked) == 1
    assert [s.digests[IMAGE]["state"] for s in services] == ["update", "update", None]
    assert [bool(s.images) for s in services] == [True, True, False]


def _git(repo: Path, *args: str) -> str:
    ident = ["-c", "user.name=t", "-c", "user.email=t@t.invalid", "-c", "init.defaultBranch=main"]
    return subprocess.run(
        ["git", *ident, "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def upstream(tmp_path: Path) -> tuple[Path, Path]:
    """A work tree pushing to a bare repo, and a clone of it (the host's checkout)."""
    work, bare, clone = tmp_path / "work", tmp_path / "bare.git", tmp_path / "clone"
    work.mkdir()
    _git(work, "init", "-q")
    (work / "f").write_text("1\n")
    _git(work, "add", "f")
    _git(work, "commit", "-q", "-m", "one")
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True)
    _git(work, "remote", "add", "origin", str(bare))
    return work, clone


def _commit(repo: Path, message: str) -> None:
    (repo / "f").write_text(message + "\n")
    _git(repo, "commit", "-q", "-am", message)


def test_git_up_to_date_behind_and_diverged(upstream: tuple[Path, Path]) -> None:
    """Nothing new; then two commits upstream, listed oldest last; then a local commit too."""
    work, clone = upstream
    assert git_preview(str(clone), 10)["state"] == "up_to_date"
    _commit(work, "two")
    _commit(work, "three")
    _git(work, "push", "-q", "origin", "HEAD")
    behind = git_preview(str(clone), 10)
    assert behind["state"] == "behind"
    assert [c["subject"] for c in behind["commits"]] == ["three", "two"]
    assert "2 commits" in behind["message"]
    _commit(clone, "local")
    assert git_preview(str(clone), 10)["message"] == "diverged: the pull would fail"


def test_git_unreachable_not_a_checkout_missing(
    upstream: tuple[Path, Path], tmp_path: Path
) -> None:
    """The remote gone, a plain folder, no folder at all: each said in words."""
    _, clone = upstream
    subprocess.run(["rm", "-rf", str(tmp_path / "bare.git")], check=True)
    gone = git_preview(str(clone), 10)
    assert gone["message"] == "remote unreachable: the local checkout would be deployed"
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git_preview(str(plain), 10)["state"] == "not_a_checkout"
    assert git_preview(str(tmp_path / "none"), 10)["state"] == "missing"


def test_a_compose_that_prints_nothing_gives_create_and_writes_nothing(tmp_path: Path) -> None:
    """compose_command /bin/true (the benchmark's): every service is `create`; R gets no file."""
    root = tmp_path / "R"
    for svc in ("a", "b"):
        (root / "repo" / "services" / svc).mkdir(parents=True)
        (root / "repo" / "services" / svc / "compose.yaml").write_text("services: {}\n")
    plan = parse_job(
        '{"version": 1, "host": "h", "run_id": "r", "services": ["a", "b", "c"],'
        ' "compose_command": ["/bin/true"]}',
        str(root),
    )
    before = sorted(p for p in root.rglob("*"))
    result = preview(str(root), plan)
    assert {s: v["action"] for s, v in result["services"].items()} == {
        "a": "create",
        "b": "create",
        "c": "invalid",
    }
    assert sorted(p for p in root.rglob("*")) == before


def test_a_host_whose_docker_does_not_answer_may_pull(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker image inspect cannot run: every image `may pull`, with the cause."""
    from remote.docker.images import local_images
    from remote.kit import dockercmd

    monkeypatch.setenv("PATH", str(tmp_path))  # no docker on PATH
    monkeypatch.setattr(dockercmd, "PLACES", [])  # nor in the usual places
    monkeypatch.setattr(dockercmd._Setup, "found", {})
    local = local_images(["app:1"], 60.0)
    why, _ = pull_check("app:1", "missing", local.get("app:1"), {})
    assert why is not None and why.startswith("may pull (docker image inspect failed"), why


def test_a_plan_beside_a_running_deploy_reads_its_lock_and_leaves_it(tmp_path: Path) -> None:
    """The lock held by a run: the preview names the holder; the lock stays held, unchanged."""
    from remote.run.lock import RunLock

    root = tmp_path / "R"
    (root / "state" / "deploy").mkdir(parents=True)
    lock = RunLock(str(root / "state" / "deploy" / "lock"))
    lock.acquire({"run_id": "20260101T000000Z-aaaaaa", "pid": os.getpid(), "started": "t"})
    try:
        before = (root / "state" / "deploy" / "lock").read_bytes()
        plan = parse_job(
            '{"version": 1, "host": "h", "run_id": "r", "services": ["a"],'
            ' "compose_command": ["/bin/true"]}',
            str(root),
        )
        result = preview(str(root), plan)
        assert result["running"]["run_id"] == "20260101T000000Z-aaaaaa"
        assert (root / "state" / "deploy" / "lock").read_bytes() == before
        with pytest.raises(Exception, match="20260101T000000Z-aaaaaa"):
            RunLock(str(root / "state" / "deploy" / "lock")).acquire({"run_id": "other"})
    finally:
        lock.release()


def test_a_remote_urls_credentials_never_reach_the_plan() -> None:
    """git quoting `https://user:token@host/...` in its error: the token is masked."""
    from remote.preview import _without_credentials

    masked = _without_credentials("fatal: unable to access 'https://bob:t0ken@git.lan/r.git/'")
    assert "t0ken" not in masked and "https://***@git.lan/r.git/" in masked


def test_a_push_host_runs_no_git_and_carries_the_push_placeholder(tmp_path: Path) -> None:
    """`source: push`: no git at all; `push` is there for the files a push would send."""
    root = tmp_path / "R"
    (root / "repo" / ".git").mkdir(parents=True)  # a checkout it must not touch
    plan = parse_job(
        '{"version": 1, "host": "h", "run_id": "r", "services": ["a"], "source": "push",'
        ' "compose_command": ["/bin/true"]}',
        str(root),
    )
    result = preview(str(root), plan)
    assert result["git"]["state"] == "push"
    assert result["push"]["files"] is None and result["push"]["note"]


def test_a_push_hosts_first_plan_says_create_after_the_push(tmp_path: Path) -> None:
    """Nothing pushed yet (no R/repo): the services the manifest brings are `create`
    "after the push", never `invalid` for a compose.yaml the push has not sent; once the
    revision is on the host its files are judged as they are."""
    root = tmp_path / "R"
    files = {"services/a/compose.yaml": b"services: {}\n", "services/b/compose.yaml": b"x"}
    entries = [a_file(p, b) for p, b in sorted(files.items())]

    def plan(data: bytes) -> Any:
        job = {"version": 1, "host": "h", "run_id": "r", "services": ["a", "b"]}
        job.update(source="push", compose_command=["/bin/true"], push_manifest=data.decode())
        return parse_job(json.dumps(job), str(root))

    first = preview(str(root), plan(manifest(entries, ["a", "b"])))["services"]
    assert {s: v["action"] for s, v in first.items()} == {"a": "create", "b": "create"}
    assert first["a"]["reason"] == "after the push (1 file): no containers of project a yet"
    pushed(root, files, ["a", "b"])
    files["services/b/compose.yaml"] = b"services: {}\n"
    entries = [a_file(p, b) for p, b in sorted(files.items())]
    later = preview(str(root), plan(manifest(entries, ["a", "b"])))["services"]
    assert later["a"]["action"] == "create" and "after the push" not in later["a"]["reason"]
    assert later["b"]["reason"].startswith("after the push")
