"""`fleet plan` end to end: real sshd hosts, real Docker and compose, changing nothing."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import (
    SLOW_COMPOSE_PATH,
    Fleet,
    finish,
    install_slow_compose,
    lock_holder,
    make_slow,
    wait_for,
)
from tests.lab import Lab

MakeLab = Callable[[Iterable[str]], Lab]

pytestmark = pytest.mark.e2e

SECRET = "h14-s3cr3t-value"


def compose_text(
    image: str, command: str = "8080", pull_policy: str | None = "never", env_file: bool = False
) -> str:
    """A busybox httpd whose environment comes from the host's .env and override."""
    policy = f"    pull_policy: {pull_policy}\n" if pull_policy else ""
    env_file_line = "    env_file: .env\n" if env_file else ""
    return (
        f"services:\n  app:\n    image: {image}\n{policy}{env_file_line}"
        f'    command: ["httpd", "-f", "-p", "{command}", "-h", "/www"]\n'
        "    stop_signal: SIGKILL\n"
        # No network of its own: the machine's address pools are shared by every test.
        "    network_mode: none\n"
        "    environment:\n"
        "      GREETING: ${GREETING:-hello}\n"
    )


def override_text(level: str) -> str:
    return f"services:\n  app:\n    environment:\n      LEVEL: {level}\n"


@pytest.fixture
def image() -> Iterator[str]:
    """A tag of the lab's busybox image that only this test uses, so that another test
    re-importing the shared tag cannot make this test's containers look outdated."""
    tag = f"fleet-test/busybox:h14-{os.getpid()}"
    subprocess.run(["docker", "tag", "fleet-test/busybox:1", tag], check=True)
    yield tag
    subprocess.run(["docker", "rmi", tag], capture_output=True)


def plan(fleet: Fleet, *args: str) -> tuple[int, dict[str, Any], str]:
    result = fleet("plan", "--json", *args)
    assert result.code in (0, 1), result.stderr
    return result.code, result.report, result.stdout + result.stderr


def actions(report: dict[str, Any]) -> dict[str, str]:
    return {
        svc: entry["action"]
        for host in report["hosts"].values()
        for svc, entry in host["services"].items()
    }


def test_plan_after_deploy_is_unchanged_then_names_exactly_what_changed(
    make_lab: MakeLab, unique: str, tmp_path: Path, image: str
) -> None:
    """Unchanged right after a deploy (exit 0, a service with an env_file too); a changed
    compose file, override and .env on three hosts are exactly three `recreate`; an added
    service is `create`; a broken file is `invalid` with compose's words while its host's
    other services are still planned."""
    lab = make_lab(["p1", "p2", "p3"])
    names = ("file", "over", "env", "new", "bad", "leak", "envfile")
    svc = {k: f"h14-{k}-{unique}" for k in names}
    lab.add_service("p1", svc["file"], compose=compose_text(image))
    # compose's `config --hash` is not the label `up` gives a service with an env_file
    lab.add_service(
        "p1", svc["envfile"], compose=compose_text(image, env_file=True), env="TOKEN=t\n"
    )
    lab.add_service("p2", svc["over"], compose=compose_text(image), override=override_text("1"))
    lab.add_service("p2", svc["bad"], compose=compose_text(image))
    lab.add_service("p3", svc["env"], compose=compose_text(image), env="GREETING=hi\n")
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))
    deployed = fleet("deploy", "--hosts", "all", "--json")
    assert deployed.code == 0, deployed.stdout + deployed.stderr

    code, report, _ = plan(fleet)
    assert code == 0, report
    assert {h["status"] for h in report["hosts"].values()} == {"planned"}
    assert set(actions(report).values()) == {"unchanged"}, report
    assert report["hosts"]["p1"]["git"]["state"] == "not_a_checkout"

    root = {name: lab.hosts[name].root_dir for name in lab.hosts}
    (root["p1"] / "repo/services" / svc["file"] / "compose.yaml").write_text(
        compose_text(image, command="8081")
    )
    (root["p2"] / "config" / svc["over"] / "docker-compose.override.yml").write_text(
        override_text("2")
    )
    (root["p3"] / "config" / svc["env"] / ".env").write_text(f"GREETING={SECRET}\n")
    (root["p2"] / "repo/services" / svc["bad"] / "compose.yaml").write_text(
        "services:\n  app:\n    image: [oops\n"
    )
    lab.add_service("p1", svc["new"], compose=compose_text(image))
    # compose quotes the bad value in its error: the .env secret must not reach the plan
    # (a secret-named key: docs/stacks.md's masking rule).
    leak = 'services:\n  app:\n    image: x\n    ports: ["${API_TOKEN}"]\n'
    lab.add_service("p3", svc["leak"], compose=leak, env=f"API_TOKEN={SECRET}\n")
    fleet.inventory = lab.write_inventory(tmp_path / "hosts.yml")

    code, report, text = plan(fleet)
    assert code == 1
    got = actions(report)
    assert sorted(s for s, a in got.items() if a == "recreate") == sorted(
        [svc["file"], svc["over"], svc["env"]]
    ), report
    assert got[svc["new"]] == "create"
    assert got[svc["bad"]] == "invalid"
    bad = report["hosts"]["p2"]["services"][svc["bad"]]
    assert "compose config failed" in bad["reason"] and "yaml" in bad["reason"].lower(), bad
    assert "command" in report["hosts"]["p1"]["services"][svc["file"]]["reason"]
    env = report["hosts"]["p3"]["services"][svc["env"]]
    assert "environment (GREETING)" in env["reason"], env
    over = report["hosts"]["p2"]["services"][svc["over"]]
    assert "environment (LEVEL)" in over["reason"], over
    leaked = report["hosts"]["p3"]["services"][svc["leak"]]
    assert leaked["action"] == "invalid" and "***" in leaked["reason"], leaked
    assert SECRET not in text

    human = fleet("plan")
    assert human.code == 1
    assert svc["new"] in human.stdout and "recreate" in human.stdout


def snapshot(root: Path, projects: list[str], images: list[str]) -> dict[str, Any]:
    """Every byte of the host's files fleet keeps, its containers and its images' IDs."""
    files = {}
    for folder in ("state", "logs", "config", "repo"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file():
                files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    plan_file = root / ".fleet" / "plan.json"
    files[str(plan_file)] = hashlib.sha256(plan_file.read_bytes()).hexdigest()
    containers = {}
    for project in projects:
        label = f"label=com.docker.compose.project={project}"
        listing = ["docker", "ps", "-a", "--no-trunc", "--filter", label]
        out = subprocess.run(
            [*listing, "--format", "{{.ID}} {{.State}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        containers[project] = sorted(out.splitlines())
    ids = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", *images],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {"files": files, "containers": containers, "images": ids}


def test_a_plan_changes_nothing_on_the_host(
    make_lab: MakeLab, unique: str, tmp_path: Path, image: str
) -> None:
    """State folder byte for byte, containers and images ID for ID: the same after a plan
    that has things to say (a changed .env, a new service, an orphan, a stopped container)."""
    lab = make_lab(["same"])
    first, second = f"h14-keep-{unique}", f"h14-later-{unique}"
    pair = f"h14-pair-{unique}"
    lab.add_service("same", first, compose=compose_text(image), env="GREETING=hi\n")
    side = compose_text(image).replace("services:\n  app:", "services:\n  side:")
    lab.add_service("same", pair, compose=compose_text(image) + side[len("services:\n") :])
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))
    deployed = fleet("deploy", "--hosts", "all")
    assert deployed.code == 0, deployed.stdout + deployed.stderr
    root = lab.hosts["same"].root_dir
    (root / "config" / first / ".env").write_text("GREETING=changed\n")
    (root / "repo" / "services" / pair / "compose.yaml").write_text(compose_text(image))
    lab.add_service("same", second, compose=compose_text(image))
    fleet.inventory = lab.write_inventory(tmp_path / "hosts.yml")

    subprocess.run(
        ["docker", "stop", "-t", "1", f"{pair}-app-1"], check=True, stdout=subprocess.DEVNULL
    )
    before = snapshot(root, [first, second, pair], [image])
    code, report, _ = plan(fleet)
    after = snapshot(root, [first, second, pair], [image])
    assert code == 1
    assert actions(report) == {first: "recreate", second: "create", pair: "unchanged"}
    assert report["hosts"]["same"]["services"][pair]["orphans"] == [f"{pair}-side-1"]
    assert report["hosts"]["same"]["services"][pair]["stopped"] == [f"{pair}-app-1"]
    assert before == after
    assert len(before["containers"][pair]) == 2  # the orphan is still there


def git(repo: Path, *args: str) -> str:
    ident = ["-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    return subprocess.run(
        ["git", *ident, "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def test_plan_lists_upstream_commits_then_says_when_the_remote_is_unreachable(
    make_lab: MakeLab, unique: str, tmp_path: Path, image: str
) -> None:
    """A host whose repo is a clone: new upstream commits are listed by subject; with the
    remote gone, the plan says the local checkout would be deployed."""
    lab = make_lab(["cloned"])
    name = f"h14-git-{unique}"
    work = tmp_path / "work"
    (work / "services" / name).mkdir(parents=True)
    (work / "services" / name / "compose.yaml").write_text(compose_text(image))
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "first")
    bare = tmp_path / "upstream.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    repo = lab.hosts["cloned"].root_dir / "repo"
    shutil.rmtree(repo, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", str(bare), str(repo)], check=True)
    lab.hosts["cloned"].services.append(name)
    lab.track_project(name)
    git(work, "remote", "add", "origin", str(bare))
    (work / "services" / name / "README").write_text("notes\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "add notes to the service")
    git(work, "push", "-q", "origin", "main")
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))
    head = git(repo, "rev-parse", "HEAD")

    code, report, _ = plan(fleet)
    host = report["hosts"]["cloned"]
    assert code == 1
    assert host["git"]["state"] == "behind", host
    assert [c["subject"] for c in host["git"]["commits"]] == ["add notes to the service"]
    assert host["services"][name]["action"] == "create"
    assert git(repo, "rev-parse", "HEAD") == head  # fetched, never merged

    shutil.rmtree(bare)
    code, report, _ = plan(fleet)
    git_plan = report["hosts"]["cloned"]["git"]
    assert git_plan["state"] == "unreachable", git_plan
    assert git_plan["message"] == "remote unreachable: the local checkout would be deployed"


def test_an_unreachable_host_is_reported_and_fails_the_plan(
    make_lab: MakeLab, unique: str, tmp_path: Path, image: str
) -> None:
    """sshd down: that host is `unreachable` with deploy's words; the other is planned; exit 1."""
    lab = make_lab(["up", "down"])
    lab.add_service("up", f"h14-up-{unique}", compose=compose_text(image))
    lab.add_service("down", f"h14-down-{unique}", compose=compose_text(image))
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))
    lab.stop_sshd("down")

    code, report, _ = plan(fleet)
    assert code == 1
    assert report["hosts"]["up"]["status"] == "planned"
    down = report["hosts"]["down"]
    assert down["status"] == "unreachable" and "refused" in down["error"], down


class Registry:
    """A running registry: its address, and a way to stop it (by its own pid)."""

    def __init__(self, address: str, proc: subprocess.Popen[bytes]) -> None:
        self.address = address
        self.proc = proc

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=10)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A real distribution registry on a free loopback port, stopped at teardown."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'registry'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (tmp_path / "registry.log").open("wb")
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(config)], stdout=log, stderr=log, start_new_session=True
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://{address}/v2/", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        running = Registry(address, proc)
        yield running
    finally:
        Registry(address, proc).stop()
        log.close()


def import_image(tag: str, content: str) -> None:
    """A one-file image (never run): only its digest matters here."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "content").write_text(content)
        tar = subprocess.Popen(["tar", "-C", folder, "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "import", "-", tag], stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL
        )
        tar.wait()


def test_pull_always_compares_the_registry_digest_and_missing_images_are_listed(
    make_lab: MakeLab, unique: str, tmp_path: Path, registry: Registry
) -> None:
    """`pull: always` against a real registry: the same digest pulls nothing; another
    digest in the registry is named; a stopped registry is `may pull`; an image the host
    lacks is listed under either policy."""
    lab = make_lab(["puller"])
    ref = f"{registry.address}/h14-app-{unique}:1"
    absent = f"{registry.address}/h14-absent-{unique}:1"
    mine, theirs = f"h14-mine-{unique}:1", f"h14-theirs-{unique}:1"
    try:
        import_image(mine, "first")
        import_image(theirs, "second")
        subprocess.run(["docker", "tag", mine, ref], check=True)
        subprocess.run(["docker", "push", "-q", ref], check=True, stdout=subprocess.DEVNULL)
        lab.add_service("puller", f"h14-app-{unique}", compose=compose_text(ref, pull_policy=None))
        lab.add_service(
            "puller", f"h14-gap-{unique}", compose=compose_text(absent, pull_policy=None)
        )
        fleet = Fleet(
            tmp_path / "state",
            lab.write_inventory(tmp_path / "hosts.yml", puller={"pull": "always"}),
        )

        def images() -> dict[str, list[str]]:
            _, report, _ = plan(fleet)
            services = report["hosts"]["puller"]["services"]
            return {svc: entry["images"] for svc, entry in services.items()}

        def reasons() -> dict[str, str]:
            _, report, _ = plan(fleet)
            service = report["hosts"]["puller"]["services"][f"h14-app-{unique}"]
            return service["image_reasons"]  # type: ignore[no-any-return]

        assert images() == {f"h14-app-{unique}": [], f"h14-gap-{unique}": [absent]}

        subprocess.run(["docker", "tag", theirs, ref], check=True)
        subprocess.run(["docker", "push", "-q", ref], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["docker", "tag", mine, ref], check=True)  # the host keeps the old one
        assert "the registry has another image" in reasons()[ref]

        lab.write_inventory(tmp_path / "hosts.yml", puller={"pull": "missing"})
        assert images()[f"h14-app-{unique}"] == []  # present: `missing` pulls nothing
        lab.write_inventory(tmp_path / "hosts.yml", puller={"pull": "always"})
        registry.stop()
        assert reasons()[ref].startswith("may pull (the registry did not tell its digest")
    finally:
        # By ID: the pushed images also carry a digest reference that a tag rmi leaves.
        ids = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", mine, theirs],
            capture_output=True,
            text=True,
        ).stdout.split()
        subprocess.run(["docker", "rmi", "-f", *ids], capture_output=True)


def test_a_plan_beside_a_running_deploy_takes_no_lock_and_says_a_run_is_going_on(
    make_lab: MakeLab, unique: str, tmp_path: Path, image: str
) -> None:
    """A deploy holds the host's lock (its `up` is slow): the plan still plans, names the
    running run, and the deploy then completes undisturbed."""
    lab = make_lab(["busy"])
    name = f"h14-slow-{unique}"
    lab.add_service("busy", name, compose=compose_text(image))
    install_slow_compose(lab, "busy")
    make_slow(lab, "busy", name, 10)
    inventory = lab.write_inventory(
        tmp_path / "hosts.yml", busy={"compose_command": SLOW_COMPOSE_PATH}
    )
    fleet = Fleet(tmp_path / "state", inventory)
    deploying = fleet.start("deploy", "--hosts", "all", "--json")
    try:
        holder = wait_for(lambda: lock_holder(lab, "busy"), 30, "the deploy to take the lock")
        code, report, _ = plan(fleet)
        busy = report["hosts"]["busy"]
        assert busy["status"] == "planned", busy
        assert busy["running"]["run_id"] == holder["run_id"]
        assert code == 1 and busy["services"][name]["action"] == "create"
        done = finish(deploying)
        assert done.code == 0, done.stdout + done.stderr
        assert done.host("busy")["status"] == "completed"
    finally:
        if deploying.poll() is None:
            deploying.kill()
            deploying.wait()
