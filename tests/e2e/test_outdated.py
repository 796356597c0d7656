"""`fleet outdated` against the lab's real registry: a moved tag is `update`, a pinned
version is current with its newer tags listed, nothing is pulled, and a registry that
is down makes its images `unknown` within the bound (#30). `fleet plan` says the same
per image where a deploy would pull (`--pull always`), and why it did not ask elsewhere."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import Fleet
from tests.e2e.test_images import registry, registry_compose  # noqa: F401 (a fixture)
from tests.lab import BUSYBOX_IMAGE, Lab
from tests.lab.registry import Registry

MakeLab = Callable[[Iterable[str]], Lab]

pytestmark = pytest.mark.e2e

BOUND_S = 60.0  # the registry down: every question ends within its few seconds


def images_on_the_engine() -> list[str]:
    """Every image the (shared) engine holds, with its tags and digests."""
    shape = "{{.Repository}} {{.Tag}} {{.Digest}} {{.ID}}"
    argv = ["docker", "images", "--all", "--digests", "--no-trunc", "--format", shape]
    listed = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return sorted(listed.splitlines())  # those made in one second come in any order


def blobs_fetched(registry: Registry) -> list[str]:  # noqa: F811
    """The digests of the blobs the registry served, in order. A pull fetches layers; the
    engine's digest question fetches at most the image's config (its platform, ~1 KB)."""
    text = registry.log_path.read_text(errors="replace")
    return re.findall(r'"GET /v2/[^ "]*/blobs/(sha256:[0-9a-f]+)', text)


def image_ids() -> set[str]:
    argv = ["docker", "images", "--all", "--quiet", "--no-trunc"]
    return set(subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split())


def by_service(result: Any, host: str = "h13") -> dict[str, dict[str, Any]]:
    return {str(i["service"]): i for i in result.host(host)["images"]}


def plan_digests(fleet: Fleet, unique: str, refs: dict[str, str], *args: str) -> Any:
    """`fleet plan --json ARGS`: each service's image entry, and its images to pull."""
    planned = fleet("plan", "--json", *args, timeout=BOUND_S * 2)
    assert planned.code in (0, 1), planned.stdout + planned.stderr
    services = planned.host("h13")["services"]
    found = {}
    for kind, tag in (("latest", "latest"), ("pinned", "1.0.0")):
        entry = services[f"h13-{unique}-{kind}"]
        found[kind] = (entry["image_digests"][refs[tag]], entry["images"])
    return planned, found


def setup(
    make_lab: MakeLab,
    registry: Registry,  # noqa: F811 (the fixture of test_images)
    tmp_path: Path,
    unique: str,
) -> tuple[Fleet, dict[str, str]]:
    """h13 runs `<u>-latest` (app:latest) and `<u>-pinned` (app:1.0.0), both v1, deployed."""
    lab = make_lab(["h13"])
    refs = {
        tag: registry.push(BUSYBOX_IMAGE, f"o-{unique}/app:{tag}") for tag in ("latest", "1.0.0")
    }
    for kind, tag in (("latest", "latest"), ("pinned", "1.0.0")):
        lab.add_service("h13", f"h13-{unique}-{kind}", compose=registry_compose(refs[tag]))
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))
    first = fleet("deploy", "--json")
    assert first.code == 0, first.stdout + first.stderr
    return fleet, refs


def test_a_moved_tag_is_an_update_and_newer_versions_are_listed_without_a_pull(
    make_lab: MakeLab,
    registry: Registry,  # noqa: F811 (the fixture of test_images)
    tmp_path: Path,
    unique: str,
) -> None:
    fleet, refs = setup(make_lab, registry, tmp_path, unique)
    old = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", refs["latest"]],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    registry.push(BUSYBOX_IMAGE, f"o-{unique}/app:latest", label="2")
    subprocess.run(["docker", "tag", old, refs["latest"]], check=True)  # the host: still v1
    for n, tag in enumerate(("1.0.1", "1.1.0")):
        registry.push(BUSYBOX_IMAGE, f"o-{unique}/app:{tag}", label=f"3{n}")
    before, blobs = images_on_the_engine(), blobs_fetched(registry)

    found = fleet("outdated", "--json")
    assert found.code == 1, found.stdout + found.stderr
    assert found.host("h13")["status"] == "checked"
    items = by_service(found)
    latest, pinned = items[f"h13-{unique}-latest"], items[f"h13-{unique}-pinned"]
    assert latest["image"] == refs["latest"]
    assert latest["state"] == "update", latest
    assert latest["local_digest"] != latest["registry_digest"]
    assert latest["newer"] == []
    assert pinned["state"] == "current", pinned
    assert pinned["local_digest"] == pinned["registry_digest"]
    assert pinned["newer"] == ["1.0.1", "1.1.0"]
    assert images_on_the_engine() == before, "outdated pulled something"
    fetched = set(blobs_fetched(registry)[len(blobs) :])
    assert fetched <= image_ids(), "outdated downloaded a layer"

    table = fleet("outdated")
    assert table.code == 1
    assert "update" in table.stdout and "1.0.1, 1.1.0" in table.stdout

    _, found = plan_digests(fleet, unique, refs, "--pull", "always")
    (moved, to_pull), (pinned_entry, none) = found["latest"], found["pinned"]
    assert moved["asked"] and moved["state"] == "update", moved
    assert moved["registry_digest"] == latest["registry_digest"] and to_pull == [refs["latest"]]
    assert pinned_entry["asked"] and pinned_entry["state"] == "current", pinned_entry
    assert none == []
    _, found = plan_digests(fleet, unique, refs)  # the host's own policy: missing
    assert all(not e["asked"] and "pull policy missing" in e["why"] for e, _ in found.values())
    fleet.env["COLUMNS"] = "200"  # the table's lines whole
    shown = fleet("plan", "--pull", "always")
    assert "a new digest" in shown.stdout and "no new digest" in shown.stdout, shown.stdout
    assert images_on_the_engine() == before, "plan pulled something"

    assert fleet("deploy", "--pull", "always", "--json").code == 0
    again = fleet("outdated", "--json")
    assert again.code == 0, again.stdout + again.stderr
    assert {i["state"] for i in by_service(again).values()} == {"current"}
    assert by_service(again)[f"h13-{unique}-pinned"]["newer"] == ["1.0.1", "1.1.0"]


def test_a_registry_that_is_down_makes_its_images_unknown_within_the_bound(
    make_lab: MakeLab,
    registry: Registry,  # noqa: F811 (the fixture of test_images)
    tmp_path: Path,
    unique: str,
) -> None:
    fleet, refs = setup(make_lab, registry, tmp_path, unique)
    registry.stop()

    found = fleet("outdated", "--json", timeout=BOUND_S * 2)
    assert found.code == 1, found.stdout + found.stderr
    assert found.elapsed < BOUND_S
    items = by_service(found).values()
    assert {i["state"] for i in items} == {"unknown"}
    assert all(i["reason"] for i in items), items
    planned, found = plan_digests(fleet, unique, refs, "--pull", "always")
    assert planned.elapsed < BOUND_S
    assert all(e["asked"] and e["state"] == "unknown" and e["reason"] for e, _ in found.values())


def test_a_registry_behind_a_dead_link_costs_its_bound_once(
    make_lab: MakeLab,
    registry: Registry,  # noqa: F811 (the fixture of test_images)
    tmp_path: Path,
    unique: str,
) -> None:
    """Packets to the registry dropped: the first question gives up after its few seconds,
    the host's other images of that registry are not asked again."""
    fleet, _ = setup(make_lab, registry, tmp_path, unique)
    registry.cut()

    found = fleet("outdated", "--json", timeout=BOUND_S * 2)
    assert found.code == 1, found.stdout + found.stderr
    assert found.elapsed < 30, found.elapsed
    items = by_service(found).values()
    assert {i["state"] for i in items} == {"unknown"}
    assert all("no answer within" in i["reason"] for i in items), items
