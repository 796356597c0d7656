"""Images end to end: prepare pulls from a real registry (Debian's docker-registry on a
loopback address) as the pull policy says; deploy needs no network."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from tests.conftest import LAB_SUBNET
from tests.e2e.support import Fleet, finish, host_logs, struct_events, wait_for
from tests.lab import BUSYBOX_IMAGE, Lab, busybox_compose, project_container_ids
from tests.lab.procs import stop_run
from tests.lab.registry import Registry, RegistryError

MakeLab = Callable[[Iterable[str]], Lab]

pytestmark = pytest.mark.e2e

# This test process's own address for its registry, beside its lab's 127.x.1.0/24.
REGISTRY_ADDRESS = LAB_SUBNET.rsplit(".", 1)[0] + ".2.1"

# A compose wrapper: `pull` of a project listed in /opt/homelab/slow-pull/ first sleeps
# that many seconds, so that a test can stop a run in the middle of its pulls.
SLOW_PULL_COMPOSE = """\
#!/bin/sh
case " $* " in
  *" pull "*) [ -f "/opt/homelab/slow-pull/$2" ] && sleep "$(cat "/opt/homelab/slow-pull/$2")" ;;
esac
exec docker compose "$@"
"""


@pytest.fixture
def registry(tmp_path: Path, busybox_image: str) -> Iterator[Registry]:
    """A running lab registry; stopped, its rules lifted and its images removed after."""
    reg = Registry(tmp_path / "registry", REGISTRY_ADDRESS)
    try:
        reg.start()
    except RegistryError as exc:
        reg.close()
        pytest.fail(f"the lab registry does not start (scripts/world.sh installs it): {exc}")
    yield reg
    reg.close()


def registry_compose(image: str) -> str:
    """A busybox service that takes the host's pull policy (no pull_policy of its own)."""
    return busybox_compose(image=image).replace("    pull_policy: never\n", "")


def image_id(ref: str) -> str | None:
    out = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", ref], capture_output=True, text=True
    )
    return out.stdout.strip() if out.returncode == 0 else None


def pulls(lab: Lab, host: str) -> list[dict[str, object]]:
    """The image_pulled events of the host's newest run log."""
    log = host_logs(lab, host)[-1].read_text()
    return [e for e in struct_events(log) if e["event"] == "image_pulled"]


def setup(
    make_lab: MakeLab,
    registry: Registry,
    tmp_path: Path,
    unique: str,
    pull: str = "missing",
    **settings: str,
) -> tuple[Lab, Fleet, list[str], list[str]]:
    """One host with two registry services (a, b); their images pushed, not yet pulled."""
    lab = make_lab(["h13"])
    names = [f"h13-{unique}-{svc}" for svc in ("a", "b")]
    refs = [registry.push(BUSYBOX_IMAGE, f"h13-{unique}/{svc}:1") for svc in ("a", "b")]
    for ref in refs:
        subprocess.run(["docker", "rmi", ref], capture_output=True)  # only the registry has it
    for name, ref in zip(names, refs, strict=True):
        lab.add_service("h13", name, compose=registry_compose(ref))
    inventory = lab.write_inventory(tmp_path / "hosts.yml", h13={"pull": pull, **settings})
    fleet = Fleet(tmp_path / "state", inventory)
    return lab, fleet, names, refs


def test_pull_always_picks_up_a_new_image_and_recreates_only_its_service(
    make_lab: MakeLab, registry: Registry, tmp_path: Path, unique: str
) -> None:
    """pull: always moves a tag: the service whose image changed is recreated, the other not."""
    lab, fleet, (a, b), (ref_a, ref_b) = setup(make_lab, registry, tmp_path, unique, pull="always")

    first = fleet("deploy", "--json")
    assert first.code == 0, first.stdout + first.stderr
    assert {(e["image"], e["status"]) for e in pulls(lab, "h13")} == {
        (ref_a, "pulled"),
        (ref_b, "pulled"),
    }
    assert all(str(e.get("digest", "")).startswith("sha256:") for e in pulls(lab, "h13"))
    before = {a: project_container_ids(a), b: project_container_ids(b)}
    old_a = image_id(ref_a)

    registry.push(BUSYBOX_IMAGE, f"h13-{unique}/a:1", label="2")
    subprocess.run(["docker", "tag", old_a or "", ref_a], capture_output=True)  # host: old a
    assert image_id(ref_a) == old_a

    second = fleet("deploy", "--json")
    assert second.code == 0, second.stdout + second.stderr
    assert image_id(ref_a) != old_a
    assert project_container_ids(a) != before[a], "a's new image did not recreate it"
    assert project_container_ids(b) == before[b], "b's image did not change: kept as it was"


def test_registry_down_with_images_on_the_host_warns_and_deploys_from_local(
    make_lab: MakeLab, registry: Registry, tmp_path: Path, unique: str
) -> None:
    """A dead registry under pull: always: one warning per image, the deploy completes."""
    lab, fleet, names, refs = setup(make_lab, registry, tmp_path, unique, pull="always")
    assert fleet("deploy", "--json").code == 0
    registry.stop()

    result = fleet("deploy", "--json")
    assert result.code == 0, result.stdout + result.stderr
    assert result.host("h13")["status"] == "completed"
    events = struct_events(host_logs(lab, "h13")[-1].read_text())
    warnings = [e for e in events if e["event"] == "warning" and e.get("image")]
    assert sorted(str(e["image"]) for e in warnings) == sorted(refs)
    assert all("deploying the image already on the host" in str(e["message"]) for e in warnings)
    assert {e["status"] for e in pulls(lab, "h13")} == {"present"}
    assert all(project_container_ids(name) for name in names)


def test_an_image_neither_on_the_host_nor_pullable_fails_validate_and_changes_nothing(
    make_lab: MakeLab, registry: Registry, tmp_path: Path, unique: str
) -> None:
    """Registry down and b's image gone: validate fails naming it; a's container untouched."""
    lab, fleet, (a, b), (_, ref_b) = setup(make_lab, registry, tmp_path, unique)
    assert fleet("deploy", "--json").code == 0
    before = {a: project_container_ids(a), b: project_container_ids(b)}
    registry.stop()
    subprocess.run(["docker", "rmi", "-f", ref_b], capture_output=True, check=True)

    result = fleet("deploy", "--json")
    assert result.code == 1
    host = result.host("h13")
    assert host["failed_stage"] == "validate"
    assert ref_b in host["error"], host["error"]
    assert host["diagnostics"]
    diagnostics = lab.hosts["h13"].root_dir / Path(host["diagnostics"]).relative_to("/opt/homelab")
    assert ref_b in diagnostics.read_text()
    assert {a: project_container_ids(a), b: project_container_ids(b)} == before


def test_pull_never_never_reaches_the_registry(
    make_lab: MakeLab, registry: Registry, tmp_path: Path, unique: str
) -> None:
    """--pull never sends no request to the registry; --pull always does (the count works)."""
    lab, fleet, _, refs = setup(make_lab, registry, tmp_path, unique, pull="never")
    for ref in refs:
        subprocess.run(["docker", "pull", "--quiet", ref], capture_output=True, check=True)
    counted = registry.requests()

    never = fleet("deploy", "--json")
    assert never.code == 0, never.stdout + never.stderr
    assert registry.requests() == counted
    assert {e["status"] for e in pulls(lab, "h13")} == {"skipped"}

    always = fleet("deploy", "--pull", "always", "--json")
    assert always.code == 0, always.stdout + always.stderr
    assert registry.requests() > counted
    assert {e["status"] for e in pulls(lab, "h13")} == {"pulled"}


def install_slow_pull(lab: Lab) -> Path:
    """Put SLOW_PULL_COMPOSE on h13 as /opt/homelab/bin/slow-pull-compose; its R."""
    root = lab.hosts["h13"].root_dir
    (root / "bin").mkdir()
    (root / "bin" / "slow-pull-compose").write_text(SLOW_PULL_COMPOSE)
    (root / "bin" / "slow-pull-compose").chmod(0o755)
    (root / "slow-pull").mkdir()
    return root


def log_has(lab: Lab, index: int, text: str) -> bool:
    """True once h13's run log number `index` (0: its first) exists and holds text."""
    logs = host_logs(lab, "h13")
    return len(logs) > index and text in logs[index].read_text()


def test_the_registry_link_cut_between_two_pulls_warns_and_deploys_from_local(
    make_lab: MakeLab, registry: Registry, tmp_path: Path, unique: str
) -> None:
    """a pulls, then the link to the registry dies (DROP) before b's pull: a warning for b
    only, and the deploy completes with b's local image."""
    compose = "/opt/homelab/bin/slow-pull-compose"
    lab, fleet, names, (ref_a, ref_b) = setup(
        make_lab, registry, tmp_path, unique, pull="always", compose_command=compose
    )
    root = install_slow_pull(lab)
    assert fleet("deploy", "--json").code == 0
    (root / "slow-pull" / names[1]).write_text("2")

    proc = fleet.start("deploy", "--json")
    try:
        wait_for(lambda: log_has(lab, 1, f"pulling {ref_b}"), 60, "b's pull")
        registry.cut()
        result = finish(proc, 180)
    finally:
        proc.kill()
    assert result.code == 0, result.stdout + result.stderr
    statuses = {e["image"]: e["status"] for e in pulls(lab, "h13")}
    assert statuses == {ref_a: "pulled", ref_b: "present"}
    events = struct_events(host_logs(lab, "h13")[-1].read_text())
    warnings = [e for e in events if e["event"] == "warning"]
    assert [e.get("image") for e in warnings] == [ref_b]
    seen = fleet.meta(result.report["run_id"])["hosts"]["h13"]["warnings"]
    assert any(ref_b in warning for warning in seen), seen  # the controller has it too
    assert all(project_container_ids(name) for name in names)


def test_a_resume_after_a_run_stopped_mid_pull_pulls_only_what_is_still_missing(
    make_lab: MakeLab, registry: Registry, tmp_path: Path, unique: str
) -> None:
    """pull: always, the run killed while b pulls: the resume pulls b, not a again."""
    compose = "/opt/homelab/bin/slow-pull-compose"
    lab, fleet, (a, b), (ref_a, ref_b) = setup(
        make_lab, registry, tmp_path, unique, pull="always", compose_command=compose
    )
    root = install_slow_pull(lab)
    (root / "slow-pull" / b).write_text("60")

    proc = fleet.start("deploy", "--json")
    try:
        wait_for(
            lambda: (
                host_logs(lab, "h13")
                and f"pulling {ref_b}" in host_logs(lab, "h13")[-1].read_text()
            ),
            60,
            "b's pull",
        )
        stop_run(root)
        stopped = finish(proc, 120)
    finally:
        proc.kill()
    assert stopped.code == 1
    manifests_of_a = f"/v2/h13-{unique}/a/manifests/"
    asked_for_a = registry.log_path.read_text().count(manifests_of_a)
    (root / "slow-pull" / b).unlink()

    resumed = fleet("resume", "h13", "--json")
    assert resumed.code == 0, resumed.stdout + resumed.stderr
    statuses = {e["image"]: e["status"] for e in pulls(lab, "h13")}
    assert statuses == {ref_a: "present", ref_b: "pulled"}
    assert registry.log_path.read_text().count(manifests_of_a) == asked_for_a
    assert project_container_ids(a) and project_container_ids(b)


def test_a_build_service_is_built_in_prepare_and_deploys_without_a_registry(
    make_lab: MakeLab, tmp_path: Path, unique: str, busybox_image: str
) -> None:
    """build: is built by prepare (one image_pulled, status built); deploy then runs it."""
    lab = make_lab(["h13"])
    name = f"h13-{unique}-built"
    compose = busybox_compose().replace(
        f"    image: {BUSYBOX_IMAGE}\n    pull_policy: never\n", "    build: .\n"
    )
    assert "build: ." in compose
    folder = lab.add_service("h13", name, compose=compose)
    (folder / "Dockerfile").write_text(f"FROM {busybox_image}\nLABEL fleet.test={unique}\n")
    built = f"{name}-app"  # compose's name for a built image without image:
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))
    try:
        result = fleet("deploy", "--json")
        assert result.code == 0, result.stdout + result.stderr
        assert [(e["image"], e["status"]) for e in pulls(lab, "h13")] == [(built, "built")]
        assert image_id(built) is not None and project_container_ids(name)
    finally:
        lab.stop()  # its containers first: the image is in use until then
        subprocess.run(["docker", "rmi", "-f", built], capture_output=True)
