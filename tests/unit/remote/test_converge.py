"""When deploy may skip `up`: only when every container runs its service's config and image."""

from __future__ import annotations

from typing import Any

from remote.docker import converge, engine_api
from remote.docker.converge import why_not_current

HASH_A, HASH_B = "a" * 64, "b" * 64


def container(service: str = "app", **extra: Any) -> dict[str, Any]:
    base = {
        "Name": f"svc-{service}-1",
        "Service": service,
        "State": "running",
        "ConfigHash": HASH_A,
        "Image": "lab/app:1",
        "ImageID": "sha256:1",
    }
    return base | extra


def image_id(reference: str) -> str | None:
    return {"lab/app:1": "sha256:1", "lab/db:1": "sha256:2"}.get(reference)


def test_a_service_running_its_config_and_image_is_current() -> None:
    assert why_not_current({"app": HASH_A}, [container()], image_id) is None


def test_every_way_a_service_is_not_current() -> None:
    hashes = {"app": HASH_A}
    cases = {
        "no config hashes": ({}, [container()]),
        "changed": (hashes, [container(ConfigHash=HASH_B)]),
        "exited": (hashes, [container(State="exited")]),
        "orphan": (hashes, [container(), container("old")]),
        "no container": ({"app": HASH_A, "db": HASH_B}, [container()]),
        "image": (hashes, [container(ImageID="sha256:0")]),
        "moved tag": (hashes, [container(Image="sha256:0")]),
    }
    for word, (want, containers) in cases.items():
        reason = why_not_current(want, containers, image_id)
        assert reason is not None, word


def test_no_containers_at_all_is_not_current() -> None:
    assert why_not_current({"app": HASH_A}, [], image_id) == "no container for app"


def test_the_engine_is_asked_only_for_dockers_own_compose() -> None:
    assert engine_api.serves(["docker", "compose"])
    assert engine_api.serves(["/usr/bin/docker-compose"])
    assert not engine_api.serves(["podman", "compose"])
    assert not engine_api.serves(["/opt/homelab/bin/slow-compose"])


def test_a_remote_docker_host_is_not_asked(monkeypatch: Any) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.1:2375")
    assert engine_api.socket_path() is None
    assert engine_api.get("/containers/json") is None
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
    assert engine_api.socket_path() == "/run/user/1000/docker.sock"


def test_an_absent_socket_answers_none(monkeypatch: Any, tmp_path: Any) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    assert engine_api.compose_containers() is None
    assert engine_api.image_id("lab/app:1") is None


def test_the_record_skips_up_only_for_the_same_config_on_the_same_containers(
    monkeypatch: Any, tmp_path: Any
) -> None:
    """remember after up; is_current needs the same fingerprint and containers that still
    carry the recorded hashes; forget (before the next up) drops the record."""
    (tmp_path / ".fleet").mkdir()
    running = {"svc": [container()]}
    monkeypatch.setattr(engine_api, "compose_containers", lambda: running)
    monkeypatch.setattr(engine_api, "image_id", image_id)
    docker = ["docker", "compose"]
    root = str(tmp_path)
    assert not converge.is_current(root, "svc", "f1", docker)  # nothing recorded yet
    converge.remember(root, "svc", "f1", docker)
    assert converge.is_current(root, "svc", "f1", docker)
    assert converge.recorded_hashes(root, "svc", "f1") == {"app": container()["ConfigHash"]}
    assert converge.recorded_hashes(root, "svc", "f2") is None  # plan asks compose then
    assert not converge.is_current(root, "svc", "f2", docker)  # the config changed
    assert not converge.is_current(root, "svc", None, docker)  # compose printed none
    assert not converge.is_current(root, "svc", "f1", ["podman", "compose"])
    running["svc"] = [container(ConfigHash=HASH_B)]  # recreated by hand, other config
    assert not converge.is_current(root, "svc", "f1", docker)
    running["svc"] = [container()]
    converge.forget(root, "svc")
    assert not converge.is_current(root, "svc", "f1", docker)


def test_a_broken_record_only_costs_an_up(monkeypatch: Any, tmp_path: Any) -> None:
    (tmp_path / ".fleet").mkdir()
    (tmp_path / ".fleet" / "converged.json").write_text("{not json")
    monkeypatch.setattr(engine_api, "compose_containers", lambda: {"svc": [container()]})
    assert not converge.is_current(str(tmp_path), "svc", "f1", ["docker", "compose"])
    converge.remember(str(tmp_path), "svc", "f1", ["docker", "compose"])
    assert "f1" in (tmp_path / ".fleet" / "converged.json").read_text()
