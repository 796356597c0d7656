"""Images in prepare: which images a service needs, under which policy, and up's fallback."""

from __future__ import annotations

import json

from remote.docker import images
from remote.protocol import Exit
from remote.run import pulls
from tests.unit.remote.conftest import FakeHost


def config(**services: dict[str, object]) -> str:
    return json.dumps({"name": "proj", "services": services})


def test_the_hosts_policy_applies_where_the_service_has_none() -> None:
    """A service without pull_policy takes the plan's; compose's words map to fleet's."""
    needs = images.parse_needs(
        config(
            a={"image": "reg/a:1"},
            b={"image": "reg/b:1", "pull_policy": "always"},
            c={"image": "reg/c:1", "pull_policy": "if_not_present"},
            d={"image": "reg/d:1", "pull_policy": "never"},
        ),
        "missing",
    )
    assert [(n.image, n.policy) for n in needs] == [
        ("reg/a:1", "missing"),
        ("reg/b:1", "always"),
        ("reg/c:1", "missing"),
        ("reg/d:1", "never"),
    ]


def test_a_service_with_build_is_built_and_one_image_used_twice_is_one_need() -> None:
    """build: without an image gets compose's own name; a shared image is pulled once."""
    needs = images.parse_needs(
        config(
            web={"build": {"context": "."}},
            a={"image": "reg/x:1"},
            b={"image": "reg/x:1"},
            sidecar={"command": ["true"]},  # neither image nor build: nothing to get
        ),
        "always",
    )
    assert [(n.image, n.policy, n.services) for n in needs] == [
        ("reg/x:1", "always", ["a", "b"]),
        ("proj-web", "build", ["web"]),
    ]


def test_a_compose_that_prints_nothing_needs_nothing() -> None:
    """The bench's compose_command /bin/true: prepare has nothing to pull."""
    assert images.parse_needs("", "always") == []


def test_the_engine_follows_the_compose_command() -> None:
    """podman compose asks podman about images; every other compose asks docker."""
    assert images.engine_command(["podman", "compose"]) == ["podman"]
    assert images.engine_command(["/usr/bin/podman-compose"]) == ["podman"]
    assert images.engine_command(["docker-compose"]) == ["docker"]
    assert images.engine_command(["docker", "compose"]) == ["docker"]


def test_the_record_keeps_what_this_run_pulled(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """images.json survives a restart of the run: a resume reads what was pulled."""
    record = pulls.Record(str(tmp_path))
    record.pulled.append("reg/a:1")
    record.missing["b"] = {"reg/b:1": "connection refused"}
    record.save()
    again = pulls.Record(str(tmp_path))
    assert again.pulled == ["reg/a:1"] and again.missing == {"b": {"reg/b:1": "connection refused"}}


def test_a_compose_without_up_pull_gets_plain_up(fake_host: FakeHost) -> None:
    """docker-compose v1 rejects `--pull`: deploy retries without it and completes."""
    fake_host.add_service("alpha")
    fake_host.control = {"unknown_flags": ["--pull"]}
    outcome = fake_host.run()
    assert outcome.code == Exit.OK
    ups = [call["argv"] for call in fake_host.calls("up")]
    assert ups[0][-2:] == ["--pull", "never"] and "--pull" not in ups[1]
    assert b"has no `up --pull never`" in outcome.stdout
