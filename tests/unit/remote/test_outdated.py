"""remote/outdated.py: version forms, newer tags, judging one image (engine faked),
one registry question per repository, credentials from the docker config."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from remote import outdated
from remote.docker import engine_api, registry

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
IMAGE = "127.0.0.1:5000/app:1.0.0"


@pytest.mark.parametrize(
    ("tag", "form"),
    [
        ("1.2.3", ("", 3, "", (1, 2, 3))),
        ("v2.4", ("v", 2, "", (2, 4))),
        ("16-alpine", ("", 1, "-alpine", (16,))),
        ("latest", None),
        ("stable-1", None),
    ],
)
def test_version_form(tag: str, form: Any) -> None:
    assert outdated.version_form(tag) == form


def test_newer_tags_are_those_of_the_same_form_oldest_first() -> None:
    tags = ["1.0.0", "1.1.0", "1.0.1", "0.9.9", "1.2", "v1.3.0", "1.3.0-rc1", "latest", "2.0.0"]
    assert outdated.newer_tags("1.0.0", tags) == ["1.0.1", "1.1.0", "2.0.0"]
    assert outdated.newer_tags("16-alpine", ["17-alpine", "17", "15-alpine"]) == ["17-alpine"]
    assert outdated.newer_tags("latest", tags) == []


def test_only_the_newest_few_are_listed() -> None:
    tags = [f"1.{n}" for n in range(30)]
    newer = outdated.newer_tags("1.0", tags)
    assert len(newer) == outdated.MAX_NEWER and newer[-1] == "1.29"


def fake_engine(
    monkeypatch: pytest.MonkeyPatch, local: list[str] | None, remote: tuple[Any, Any]
) -> list[str]:
    asked: list[str] = []

    def image(ref: str) -> tuple[bool, Any]:
        return True, None if local is None else {"RepoDigests": local}

    def request(path: str, timeout: float = 0) -> tuple[Any, Any]:
        asked.append(path)
        return remote

    monkeypatch.setattr(engine_api, "image", image)
    monkeypatch.setattr(engine_api, "request", request)
    return asked


def no_tags(monkeypatch: pytest.MonkeyPatch, tags: Any = None) -> list[tuple[str, str]]:
    asked: list[tuple[str, str]] = []

    def list_tags(registry: str, repo: str) -> Any:
        asked.append((registry, repo))
        return tags if tags is not None else []

    monkeypatch.setattr(outdated, "list_tags", list_tags)
    return asked


def test_the_same_digest_is_current_another_is_an_update(monkeypatch: pytest.MonkeyPatch) -> None:
    no_tags(monkeypatch, ["1.0.0", "1.0.1"])
    local = ["127.0.0.1:5000/app@" + OLD]
    fake_engine(monkeypatch, local, (200, {"Descriptor": {"digest": OLD}}))
    item = outdated.judge(IMAGE, {})
    assert (item["state"], item["local_digest"], item["registry_digest"]) == ("current", OLD, OLD)
    assert item["newer"] == ["1.0.1"] and item["reason"] is None
    fake_engine(monkeypatch, local, (200, {"Descriptor": {"digest": NEW}}))
    assert outdated.judge(IMAGE, {})["state"] == "update"


def test_a_registry_that_does_not_answer_is_unknown_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    no_tags(monkeypatch, "the registry answered nothing (refused)")
    fake_engine(monkeypatch, ["x@" + OLD], (500, {"message": "connection refused"}))
    item = outdated.judge(IMAGE, {})
    assert item["state"] == "unknown" and "connection refused" in item["reason"]
    fake_engine(monkeypatch, ["x@" + OLD], (None, None))
    assert "no answer" in outdated.judge(IMAGE, {})["reason"]


def test_an_image_not_on_the_host_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    no_tags(monkeypatch)
    fake_engine(monkeypatch, None, (200, {"Descriptor": {"digest": NEW}}))
    item = outdated.judge(IMAGE, {})
    assert item["state"] == "unknown" and "not on the host" in item["reason"]


def test_an_image_built_or_imported_here_asks_no_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No RepoDigests: no registry knows it, so none is asked (an imported image named
    `fleet-test/busybox:1` would otherwise send dockerd to Docker Hub)."""
    tags = no_tags(monkeypatch, ["1"])
    asked = fake_engine(monkeypatch, [], (200, {"Descriptor": {"digest": NEW}}))
    item = outdated.judge("fleet-test/busybox:1", {})
    assert item["state"] == "unknown" and item["reason"] == registry.NOT_PULLED
    assert asked == [] and tags == []


def test_each_repository_is_asked_for_its_tags_once(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = no_tags(monkeypatch, ["1.0.0"])
    fake_engine(monkeypatch, ["x@" + OLD], (200, {"Descriptor": {"digest": OLD}}))
    cache: dict[Any, Any] = {}
    for ref in (IMAGE, "127.0.0.1:5000/app:1.1.0", "127.0.0.1:5000/app:latest"):
        outdated.judge(ref, cache)
    assert asked == [("127.0.0.1:5000", "app")]


def test_a_digest_pinned_image_asks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = fake_engine(monkeypatch, None, (None, None))
    item = outdated.judge("app@" + OLD, {})
    assert item["state"] == "current" and asked == []


def test_credentials_come_from_the_docker_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = base64.b64encode(b"me:secret").decode()
    config = {"auths": {"https://index.docker.io/v1/": {"auth": auth}, "reg.lan:5000": {}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert outdated._credentials("registry-1.docker.io") == auth
    assert outdated._credentials("reg.lan:5000") is None
    assert outdated._credentials("other.lan") is None


def test_a_registry_that_stays_silent_is_asked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    asked_tags = no_tags(monkeypatch)
    asked = fake_engine(monkeypatch, ["x@" + OLD], (None, None))
    known: dict[Any, Any] = {}
    items = [outdated.judge(f"127.0.0.1:5000/{n}:1.0", known) for n in ("a", "b", "c")]
    assert len(asked) == 1 and asked_tags == []
    assert all(i["state"] == "unknown" and registry.SILENT in i["reason"] for i in items)
