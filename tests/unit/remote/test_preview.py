"""The runner's read-only preview (`fleet plan` on the host): its judgements, piece by piece."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remote.docker import registry
from remote.preview import changed_keys, git_preview, preview, pull_reason
from remote.run.job import parse_job
from tests.unit.remote.test_source import a_file, manifest, pushed

DIGEST = "sha256:" + "ab" * 32


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


def test_pull_reasons_follow_the_policy() -> None:
    """never: nothing; absent: pulled; missing and present: nothing; pinned: nothing."""
    present = {"RepoDigests": []}
    assert pull_reason("a:1", "never", None) is None
    assert pull_reason("a:1", "missing", None) == "absent from the host"
    assert pull_reason("a:1", "missing", present) is None
    assert pull_reason("a@" + DIGEST, "always", present) is None
    assert "may pull" in (pull_reason("a:1", "refresh", present) or "")


def test_always_with_a_dead_registry_says_may_pull() -> None:
    """A registry that does not answer: `may pull`, and the cause, within the timeout."""
    free = _free_port()
    why = pull_reason(f"127.0.0.1:{free}/app:1", "always", {"RepoDigests": []})
    assert why is not None and why.startswith("may pull"), why


class _Registry(http.server.BaseHTTPRequestHandler):
    digest = DIGEST

    def do_HEAD(self) -> None:
        if not self.path.startswith("/v2/app/manifests/"):
            self.send_response(404)
        else:
            self.send_response(200)
            self.send_header("Docker-Content-Digest", self.digest)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_registry() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_always_compares_the_registry_digest_with_the_local_one(fake_registry: str) -> None:
    """The same digest: no pull; another: pulled, saying why; an unknown repo: may pull."""
    image = f"{fake_registry}/app:1"
    assert pull_reason(image, "always", {"RepoDigests": [f"{fake_registry}/app@{DIGEST}"]}) is None
    other = pull_reason(image, "always", {"RepoDigests": [f"{fake_registry}/app@sha256:00"]})
    assert other is not None and "another image" in other
    unknown = pull_reason(f"{fake_registry}/nope:1", "always", {"RepoDigests": []})
    assert unknown is not None and "HTTP 404" in unknown


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    why = pull_reason("app:1", "missing", local.get("app:1"))
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
