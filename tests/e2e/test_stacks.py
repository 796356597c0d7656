"""Upstream compose stacks deploy unchanged: the corpus in tests/stacks, end to end.

Each stack's files are as its project publishes them (images swapped for local stand-ins,
tests/lab/standins.py); the host's .env lives in R/config/<svc>/, never in the repo.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from tests.e2e.support import Fleet, host_logs, struct_events
from tests.e2e.test_faults import assert_no_trace
from tests.lab import Lab, LabUnavailable, project_container_ids, remove_compose_projects
from tests.lab.standins import ensure_stand_ins

MakeLab = Callable[[Iterable[str]], Lab]
STACKS = Path(__file__).resolve().parents[1] / "stacks"
# Inventory order: the proxy first, since later stacks join its network as external.
ORDER = [
    "traefik", "whoami", "nextcloud", "gitea", "vaultwarden", "immich", "paperless",
    "monitoring", "homepage", "miniflux",
]  # fmt: skip
PREFIX = "h12-"
PROXY_NETWORK = "h12-proxy"


@pytest.fixture(scope="session")
def stand_ins(busybox_image: str) -> list[str]:
    try:
        return ensure_stand_ins()
    except LabUnavailable as exc:
        pytest.fail(str(exc))


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60).stdout


def _remove_everything(projects: list[str]) -> None:
    """Containers, networks (the proxy's once its joiners are gone) and volumes."""
    remove_compose_projects(projects)
    remove_compose_projects(projects)
    for project in projects:
        label = f"label=com.docker.compose.project={project}"
        volumes = _docker("volume", "ls", "-q", "--filter", label).split()
        if volumes:
            _docker("volume", "rm", "-f", *volumes)


@pytest.fixture
def cleanup() -> Iterator[list[str]]:
    """Projects to remove whole (volumes too) after the lab has stopped: ask for it first."""
    projects: list[str] = []
    yield projects
    _remove_everything(projects)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fill(text: str, planted: list[str], port: int) -> str:
    """Each @SECRET@ gets a secret of its own; @PORT@ the port picked for this run."""
    while "@SECRET@" in text:
        planted.append(secrets.token_urlsafe(15))
        text = text.replace("@SECRET@", planted[-1], 1)
    return text.replace("@PORT@", str(port))


def _plant(root: Path, stack: str, planted: list[str], port: int) -> None:
    svc = PREFIX + stack
    shutil.copytree(STACKS / "services" / stack, root / "repo" / "services" / svc)
    for sub, target in (
        ("config", root / "config" / svc),
        ("placed", root / "repo/services" / svc),
    ):
        source = STACKS / sub / stack
        for path in source.rglob("*") if source.is_dir() else []:
            if path.is_file():
                dest = target / path.relative_to(source)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(_fill(path.read_text(), planted, port))


def _all_output(fleet: Fleet, lab: Lab, *texts: str) -> str:
    found = list(texts)
    found += [p.read_text(errors="replace") for p in fleet.state_dir.rglob("*") if p.is_file()]
    for host in lab.hosts.values():
        found += [
            p.read_text(errors="replace")
            for sub in ("logs", "state", ".fleet")
            for p in (host.root_dir / sub).rglob("*")
            if p.is_file() and p.suffix != ".pyz"
        ]
    return "\n".join(found)


def _container(project: str, service: str) -> str:
    labels = [f"label=com.docker.compose.project={project}"]
    labels.append(f"label=com.docker.compose.service={service}")
    ids = _docker("ps", "-q", *(x for label in labels for x in ("--filter", label))).split()
    assert len(ids) == 1, (project, service, ids)
    return ids[0]


def test_the_corpus_deploys_unchanged_and_healthy(
    cleanup: list[str], make_lab: MakeLab, stand_ins: list[str], tmp_path: Path
) -> None:
    """Ten stacks as published (healthchecked dbs, env_file, secrets, binds, an external
    network, profiles, name:, include/extends, build:) deploy and verify healthy, and no
    planted secret shows in any output. A second deploy recreates nothing."""
    assert len(ORDER) >= 10 and set(ORDER) == {p.name for p in (STACKS / "services").iterdir()}
    services = [PREFIX + stack for stack in ORDER]
    cleanup += services
    lab = make_lab(["stacks"])
    host = lab.hosts["stacks"]
    host.real_root = True  # dockerd must see the bind mounts and secret files
    planted: list[str] = []
    port = _free_port()
    for stack in ORDER:
        _plant(host.root_dir, stack, planted, port)
        host.services.append(PREFIX + stack)
        lab.track_project(PREFIX + stack)
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))

    result = fleet("deploy", "--hosts", "all", "--json", "--verify-timeout", "90", timeout=600)
    entry = result.host("stacks")
    assert result.code == 0, (entry, result.stderr[-3000:])
    assert entry["services"] == {svc: "completed" for svc in services}

    # name: immich does not rename the project; container_name is kept.
    assert _docker("ps", "-q", "--filter", "label=com.docker.compose.project=immich") == ""
    assert (
        json.loads(_docker("inspect", "h12-immich_server"))[0]["Config"]["Labels"][
            "com.docker.compose.project"
        ]
        == "h12-immich"
    )
    # The proxy's network, joined as external by the later stacks.
    network = json.loads(_docker("network", "inspect", PROXY_NETWORK))[0]
    joined = {c["Name"] for c in network["Containers"].values()}
    assert {"h12-traefik", "h12-whoami-whoami-1", "h12-nextcloud-app-1"} <= joined, joined
    # Bind mounts and file secrets resolve in the host's folder; the build used the repo.
    upload = host.root_dir / "repo/services/h12-immich/library/.stand-in"
    assert upload.read_text().strip() == "immich-server"
    webserver = _container("h12-paperless", "webserver")
    secret_file = host.root_dir / "repo/services/h12-paperless/secrets/paperless_dbpass.txt"
    assert _docker("exec", webserver, "cat", "/run/secrets/paperless_dbpass") == (
        secret_file.read_text()
    )
    page = _docker(
        "exec", _container("h12-homepage", "web"), "wget", "-q", "-O", "-", "http://127.0.0.1/"
    )
    assert page == "homepage, built on the host\n"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        assert response.status == 200  # gitea's port, from ${GITEA_HTTP_PORT} in its .env
    # Profiled services stay down; every other container runs.
    for svc, service in (("h12-nextcloud", "adminer"), ("h12-paperless", "gotenberg")):
        label = f"label=com.docker.compose.service={service}"
        assert (
            _docker(
                "ps",
                "-aq",
                "--filter",
                f"label=com.docker.compose.project={svc}",
                "--filter",
                label,
            )
            == ""
        )
    running = {svc: project_container_ids(svc) for svc in services}
    assert all(running.values()), running

    again = fleet("deploy", "--hosts", "all", "--json", "--verify-timeout", "90", timeout=600)
    assert again.code == 0, again.host("stacks")
    assert {svc: project_container_ids(svc) for svc in services} == running, "nothing recreated"
    blob = _all_output(
        fleet, lab, result.stdout, result.stderr, again.stdout, fleet("report").stdout
    )
    assert "h12-nextcloud" in blob and str(host.root_dir) in blob, "names and paths stay readable"
    for secret in planted:
        assert_no_trace(secret, blob, "corpus")


UPSTREAM = """\
services:
  app:
    image: fleet-test/busybox:1
    pull_policy: never
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    stop_signal: SIGKILL
    env_file: .env
    environment:
      GREETING: ${GREETING:?set GREETING in .env}
"""


def _git(repo: Path, *args: str) -> str:
    argv = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "-C", str(repo), *args]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def test_env_file_dot_env_gets_the_config_env_in_a_clean_git_checkout(
    cleanup: list[str], make_lab: MakeLab, busybox_image: str, tmp_path: Path
) -> None:
    """An upstream `env_file: .env` reads R/config/<svc>/.env: the deploy completes, the
    container has the value, git status stays clean, a later pull works, the secret is
    never output. A service name compose rejects is an inventory error (file, line, the
    name compose would accept), and nothing is contacted (#31)."""
    good, bad = "h12-envlink", "h12-Bad.Name"
    cleanup += [good, bad.lower()]
    lab = make_lab(["checkout", "badname"])
    origin = tmp_path / "origin"
    (origin / "services" / good).mkdir(parents=True)
    (origin / "services" / good / "compose.yaml").write_text(UPSTREAM)
    _git(origin, "init", "-q", "-b", "main")
    _git(origin, "add", ".")
    _git(origin, "commit", "-qm", "upstream")
    root = lab.hosts["checkout"].root_dir
    subprocess.run(["git", "clone", "-q", str(origin), str(root / "repo")], check=True)
    secret = secrets.token_urlsafe(15)
    (root / "config" / good).mkdir(parents=True)
    (root / "config" / good / ".env").write_text(f"GREETING=hello\nDB_PASSWORD={secret}\n")
    lab.hosts["checkout"].services.append(good)
    # The case: a .env value equal to the service's name must not mask the name.
    lab.add_service("badname", bad, env=f"POSTGRES_DB={bad}\nPOSTGRES_PASSWORD={bad}\n")
    with_bad = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "bad.yml"))
    refused = with_bad("deploy", "--hosts", "all", "--json")
    assert refused.code == 2, refused.stdout
    assert "bad.yml:" in refused.report["error"], refused.report
    assert "'h12-bad-name'" in refused.report["error"], refused.report
    assert not with_bad.runs_dir().exists(), "an invalid inventory starts no run"
    only_good = {"checkout": [good], "badname": [f"h12-ok-{secrets.token_hex(3)}"]}
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml", only_good))

    first = fleet("deploy", "--hosts", "checkout", "--json")
    assert first.host("checkout")["status"] == "completed", first.host("checkout")
    container = _container(good, "app")
    assert f"DB_PASSWORD={secret}" in _docker("exec", container, "env")
    assert _git(root / "repo", "status", "--porcelain") == ""
    (origin / "services" / good / "README").write_text("upstream moved on\n")
    _git(origin, "add", ".")
    _git(origin, "commit", "-qm", "more")
    second = fleet("deploy", "--hosts", "checkout", "--json")
    assert second.code == 0, second.host("checkout")
    assert (root / "repo" / "services" / good / "README").exists(), "git pull --ff-only worked"
    events = struct_events(host_logs(lab, "checkout")[-1].read_text())
    assert [e for e in events if e["event"] == "warning"] == [], "the pull went through"
    assert _git(root / "repo", "status", "--porcelain") == ""

    blob = _all_output(fleet, lab, first.stdout, first.stderr, second.stdout, second.stderr)
    assert_no_trace(secret, blob, "env_file: .env")
