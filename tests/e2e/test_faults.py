"""Survive the LTE link: faults and bad input against real sshd hosts and real Docker.

Every test asserts the final state on the hosts (markers, last_service, containers) and
what the controller reported.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from tests.e2e.support import (
    DROP_DETECTED_S,
    SLOW_COMPOSE_PATH,
    Fleet,
    clear_slow,
    completed_stages,
    finish,
    host_logs,
    install_slow_compose,
    kill_run,
    lock_holder,
    make_slow,
    read_state,
    run_finished,
    struct_events,
    wait_for,
)
from tests.lab import Lab, busybox_compose, project_container_ids

MakeLab = Callable[[Iterable[str]], Lab]
DATA = Path(__file__).resolve().parents[1] / "data" / "broken"


def services_of(unique: str, host: str, count: int) -> list[str]:
    return [f"f{unique}-{host.lower()}-{i}" for i in range(1, count + 1)]


def populate(lab: Lab, unique: str, count: int = 2) -> dict[str, list[str]]:
    """Give every host `count` real busybox services with names of their own."""
    plan = {}
    for host in lab.hosts:
        plan[host] = services_of(unique, host, count)
        for svc in plan[host]:
            lab.add_service(host, svc, busybox_compose())
    return plan


def running_once(services: Iterable[str]) -> bool:
    return all(len(project_container_ids(svc)) == 1 for svc in services)


def slow_inventory(lab: Lab, tmp_path: Path, slow_host: str) -> Path:
    install_slow_compose(lab, slow_host)
    return lab.write_inventory(
        tmp_path / "hosts.yml", **{slow_host: {"compose_command": SLOW_COMPOSE_PATH}}
    )


def test_link_down_past_timeout_is_disconnected_and_resume_deploys_nothing(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """CHELSTY's link dies mid-deploy: others complete, it is `disconnected`, its run finishes
    by itself, and `fleet resume CHELSTY` later reports it completed without redeploying."""
    lab = make_lab(["nas", "mini", "CHELSTY"])
    plan = populate(lab, unique, 3)
    fleet = Fleet(tmp_path / "state", slow_inventory(lab, tmp_path, "CHELSTY"))
    first, second, _ = plan["CHELSTY"]
    make_slow(lab, "CHELSTY", second, 12)

    proc = fleet.start("deploy", "--hosts", "all", "--json", "--reconnect-timeout", "3")
    wait_for(lambda: read_state(lab, "CHELSTY", "last_service") == first, 60, "first service")
    with lab.link_down("CHELSTY"):
        result = finish(proc)
        assert result.code == 1, result.stderr
        assert result.host("CHELSTY")["status"] == "disconnected"
        assert result.host("CHELSTY")["error"]
        for host in ("nas", "mini"):
            assert result.host(host)["status"] == "completed"
        assert result.elapsed < 60, "a dead link must be given up on within the bounds"
        wait_for(lambda: run_finished(lab, "CHELSTY"), 90, "the detached run to finish")
    assert running_once(plan["CHELSTY"])
    ids = {svc: project_container_ids(svc) for svc in plan["CHELSTY"]}

    resumed = fleet("resume", "CHELSTY", "--json")
    assert resumed.code == 0, resumed.stderr
    assert resumed.host("CHELSTY")["status"] == "completed"
    assert set(resumed.report["hosts"]) == {"CHELSTY"}
    assert {svc: project_container_ids(svc) for svc in plan["CHELSTY"]} == ids


def test_resume_reattaches_to_the_run_still_going_after_a_disconnect(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """After CHELSTY is given up as `disconnected`, its run goes on; `fleet resume` while it
    still runs re-attaches to that same run (no second run) and reports it completed."""
    lab = make_lab(["CHELSTY"])
    plan = populate(lab, unique, 3)
    fleet = Fleet(tmp_path / "state", slow_inventory(lab, tmp_path, "CHELSTY"))
    first, second, _ = plan["CHELSTY"]
    make_slow(lab, "CHELSTY", second, DROP_DETECTED_S + 15)

    proc = fleet.start("deploy", "--hosts", "all", "--json", "--reconnect-timeout", "2")
    wait_for(lambda: read_state(lab, "CHELSTY", "last_service") == first, 60, "first service")
    with lab.link_down("CHELSTY"):
        dropped = finish(proc)
    assert dropped.host("CHELSTY")["status"] == "disconnected"
    assert not run_finished(lab, "CHELSTY"), "the run should still be going for this test"

    resumed = fleet("resume", "CHELSTY", "--json")
    assert resumed.code == 0, resumed.stderr
    assert resumed.host("CHELSTY")["status"] == "completed"
    assert len(host_logs(lab, "CHELSTY")) == 1, "re-attached: no second run was started"
    assert running_once(plan["CHELSTY"])


def test_link_blip_within_timeout_reattaches_without_losing_or_repeating_events(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """The link drops long enough to be noticed and comes back: the controller re-attaches,
    the host completes, and its recorded log is byte-for-byte the host's own log."""
    lab = make_lab(["CHELSTY", "nas"])
    plan = populate(lab, unique, 3)
    fleet = Fleet(tmp_path / "state", slow_inventory(lab, tmp_path, "CHELSTY"))
    first, second, _ = plan["CHELSTY"]
    make_slow(lab, "CHELSTY", second, DROP_DETECTED_S + 12)

    proc = fleet.start("deploy", "--hosts", "all", "--json", "--reconnect-timeout", "120")
    wait_for(lambda: read_state(lab, "CHELSTY", "last_service") == first, 60, "first service")
    with lab.link_down("CHELSTY"):
        time.sleep(DROP_DETECTED_S + 5)
    result = finish(proc)
    assert result.code == 0, result.stderr
    assert result.host("CHELSTY")["status"] == "completed"
    assert running_once(plan["CHELSTY"])

    (host_log,) = host_logs(lab, "CHELSTY")
    recorded = list(fleet.runs_dir().glob(f"{result.report['run_id']}/**/CHELSTY*.log"))
    assert recorded, "the controller keeps each host's log"
    assert recorded[0].read_bytes() == host_log.read_bytes()
    events = struct_events(host_log.read_text())
    keys = [(e["event"], e.get("stage"), e.get("service")) for e in events]
    assert len(keys) == len(set(keys)), "no event twice"
    assert keys[-1][0] == "run_completed"


def test_runner_killed_mid_deploy_resumes_from_first_unfinished_service(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """SIGKILL of the run mid-deploy: `fleet resume` continues from the first service not
    completed, and the services before it keep their containers."""
    lab = make_lab(["CHELSTY"])
    plan = populate(lab, unique, 3)
    fleet = Fleet(tmp_path / "state", slow_inventory(lab, tmp_path, "CHELSTY"))
    first, second, third = plan["CHELSTY"]
    make_slow(lab, "CHELSTY", second, 30)

    proc = fleet.start("deploy", "--hosts", "all", "--json")
    wait_for(lambda: read_state(lab, "CHELSTY", "last_service") == first, 60, "first service")
    time.sleep(0.5)
    kill_run(lab, "CHELSTY")
    result = finish(proc)
    assert result.code == 1
    assert result.host("CHELSTY")["status"] != "completed"
    assert read_state(lab, "CHELSTY", "last_service") == first
    first_ids = project_container_ids(first)
    assert len(first_ids) == 1 and project_container_ids(second) == []

    clear_slow(lab, "CHELSTY")
    resumed = fleet("resume", "CHELSTY", "--json")
    assert resumed.code == 0, resumed.stderr
    services = resumed.host("CHELSTY")["services"]
    assert services == {first: "skipped", second: "completed", third: "completed"}
    assert project_container_ids(first) == first_ids
    assert running_once(plan["CHELSTY"])
    assert "complete" in completed_stages(lab, "CHELSTY")


def test_power_cut_during_state_writes_never_leaves_a_torn_state(tmp_path: Path) -> None:
    """The runner is SIGKILLed at random moments, again and again: every state file is always
    a whole old or new value, and a final --resume completes the run."""
    from remote.build import build_runner
    from remote.protocol import STAGES

    archive, _ = build_runner()
    root = tmp_path / "root"
    services = [f"svc{i}" for i in range(6)]
    runner = _local_host(root, archive, services)
    rng = random.Random(7)
    for attempt in range(40):
        args = ["/usr/bin/python3", str(runner), "--root", str(root)]
        proc = subprocess.Popen(
            [*args, *(["--resume"] if attempt else [])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(rng.uniform(0.0, 0.5))
        os.killpg(proc.pid, 9)
        proc.wait()
        state = root / "state" / "deploy"
        current = _read(state / "current_stage")
        assert current in (None, *STAGES), f"torn current_stage {current!r}"
        last = _read(state / "last_service")
        assert last in (None, *services), f"torn last_service {last!r}"
    final = subprocess.run(
        ["/usr/bin/python3", str(runner), "--root", str(root), "--resume"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert final.returncode == 0, final.stdout[-3000:]
    assert (root / "state" / "deploy" / "stage_complete_complete").exists()
    assert _read(root / "state" / "deploy" / "last_service") == services[-1]


def _local_host(root: Path, archive: bytes, services: list[str]) -> Path:
    """A host root whose compose is a fake that takes a little time (no Docker needed)."""
    import json

    fake = root / "bin" / "fake-compose"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\nsleep 0.03\nexit 0\n")
    fake.chmod(0o755)
    for svc in services:
        definition = root / "repo" / "services" / svc
        definition.mkdir(parents=True)
        (definition / "compose.yaml").write_text(busybox_compose())
        (definition / "healthcheck.sh").write_text("exit 0\n")
    runner = root / ".fleet" / "fleet-runner.pyz"
    runner.parent.mkdir(parents=True)
    runner.write_bytes(archive)
    plan = {
        "version": 1,
        "host": "local",
        "run_id": "20261127T000000Z-abcdef",
        "root": str(root),
        "repo": str(root / "repo"),
        "services": services,
        "compose_command": [str(fake)],
    }
    (root / ".fleet" / "plan.json").write_text(json.dumps(plan))
    return runner


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def test_two_deploys_at_once_one_runs_the_other_is_refused_naming_the_holder(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """Two `fleet deploy` against one host: exactly one runs; the other exits 1 for that host
    with the holder's run id, and the holder's saved plan is untouched."""
    lab = make_lab(["nas"])
    plan = populate(lab, unique, 2)
    fleet = Fleet(tmp_path / "state", slow_inventory(lab, tmp_path, "nas"))
    make_slow(lab, "nas", plan["nas"][0], 6)

    holder_proc = fleet.start("deploy", "--hosts", "all", "--json")
    wait_for(lambda: lock_holder(lab, "nas") is not None, 60, "the first run to take the lock")
    refused = fleet("deploy", "--hosts", "all", "--json")
    holder = finish(holder_proc)

    assert holder.code == 0, holder.stderr
    assert refused.code == 1
    holder_id = holder.report["run_id"]
    assert refused.host("nas")["status"] == "failed"
    assert holder_id in refused.host("nas")["error"]
    saved = (lab.hosts["nas"].root_dir / ".fleet" / "plan.json").read_text()
    assert holder_id in saved
    assert running_once(plan["nas"])


def test_changed_host_key_is_refused_and_never_connected(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """A host whose key changed (a man in the middle) is refused with a clear message and
    gets nothing; the other hosts complete."""
    lab = make_lab(["nas", "mitm", "pi"])
    plan = populate(lab, unique, 1)
    mitm = lab.hosts["mitm"]
    lab.stop_sshd("mitm")
    hostkey = mitm.sshd_dir / "ssh_host_ed25519_key"
    hostkey.unlink()
    hostkey.with_suffix(".pub").unlink()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey)], check=True)
    lab.start_sshd("mitm")
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))

    result = fleet("deploy", "--hosts", "all", "--json")
    assert result.code == 1
    assert result.host("mitm")["status"] == "unreachable"
    assert "host key" in result.host("mitm")["error"].lower()
    assert not (mitm.root_dir / ".fleet").exists() and not (mitm.root_dir / "state").exists()
    assert project_container_ids(plan["mitm"][0]) == []
    for host in ("nas", "pi"):
        assert result.host(host)["status"] == "completed"


@pytest.fixture
def no_dns(tmp_path: Path) -> Iterator[list[str]]:
    """A prefix that runs a command with a resolver on 127.0.0.1 (nothing listens there):
    name lookups fail at once and no query leaves this machine."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    yield ["unshare", "-m", "--propagation", "private", "sh", "-c",
           f'mount --bind {resolv} /etc/resolv.conf && exec "$@"', "no-dns"]  # fmt: skip


def test_unreachable_hosts_are_reported_with_their_reason_quickly(
    make_lab: MakeLab, unique: str, tmp_path: Path, no_dns: list[str]
) -> None:
    """sshd down, refused, wrong key, a name that does not resolve, a black hole: each is
    `unreachable` with its own reason, within a bounded time, and the good host completes."""
    lab = make_lab(["good", "down", "refusing", "wrongkey", "blackhole"])
    populate(lab, unique, 1)
    lab.stop_sshd("down")
    lab.reject("refusing")
    lab.cut("blackhole")
    stranger = tmp_path / "stranger_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    data = lab.inventory_data()
    data["hosts"]["wrongkey"]["identity"] = str(stranger)
    data["hosts"]["nowhere"] = {"address": "nowhere.invalid", "services": ["x"]}
    inventory = tmp_path / "hosts.yml"
    import yaml

    inventory.write_text(yaml.safe_dump(data))
    fleet = Fleet(tmp_path / "state", inventory)

    start = time.monotonic()
    proc = subprocess.run(
        [*no_dns, *fleet.argv("deploy", "--hosts", "all", "--json")],
        capture_output=True,
        text=True,
        env=fleet.env,
        timeout=180,
    )
    elapsed = time.monotonic() - start
    import json

    report = json.loads(proc.stdout)
    assert proc.returncode == 1, proc.stderr
    assert report["hosts"]["good"]["status"] == "completed"
    reasons = {
        "down": r"refused",
        "refusing": r"refused|reset",
        "wrongkey": r"auth",
        "nowhere": r"resolve|dns|name",
        "blackhole": r"timed out|timeout",
    }
    for host, reason in reasons.items():
        entry = report["hosts"][host]
        assert entry["status"] == "unreachable", (host, entry)
        assert re.search(reason, entry["error"], re.IGNORECASE), (host, entry["error"])
    assert elapsed < 90, f"unreachable hosts must be given up on quickly, took {elapsed:.0f}s"


@pytest.fixture
def tripwire() -> Iterator[list[str]]:
    """A listener where every broken inventory points: anything connecting is recorded."""
    hits: list[str] = []
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.9.9", 2222))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            hits.append(str(peer))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield hits
    stop.set()
    thread.join()
    server.close()


BROKEN_INVENTORIES = sorted((DATA / "inventories").glob("*.yml"))


@pytest.mark.parametrize("inventory", BROKEN_INVENTORIES, ids=[p.stem for p in BROKEN_INVENTORIES])
def test_broken_inventory_names_file_line_and_key_and_contacts_nobody(
    inventory: Path, tripwire: list[str], tmp_path: Path
) -> None:
    """A broken inventory: exit 2, an error naming the file, the line and the key; no host
    is contacted."""
    expect = inventory.read_text().splitlines()[0].removeprefix("# expect: ")
    lines, keys = expect.split(" ", 1)
    fleet = Fleet(tmp_path / "state", inventory)
    for command in (["deploy", "--hosts", "all"], ["status"], ["resume", "nas"]):
        result = fleet(*command)
        assert result.code == 2, (command, result.stdout, result.stderr)
        found = [
            line
            for line in result.stderr.splitlines()
            for n in lines.split(",")
            if line.startswith(f"{inventory}:{n}:")
            and (keys == "*" or any(k in line for k in keys.split("|")))
        ]
        assert found, f"expected {inventory}:{lines}: {keys} in:\n{result.stderr}"
    assert tripwire == [], "an invalid inventory must contact no host"


BROKEN_SERVICES = sorted(p for p in (DATA / "services").iterdir() if p.is_dir())


def test_broken_service_definitions_fail_validate_and_never_leak_secrets(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """Each broken definition fails the validate stage before anything starts (even the
    host's good service), names the service, and no .env secret shows anywhere."""
    assert len(BROKEN_INVENTORIES) + len(BROKEN_SERVICES) >= 30
    names = [case.name for case in BROKEN_SERVICES]
    lab = make_lab(names)
    secrets = {}
    for case in BROKEN_SERVICES:
        good, broken = f"g{unique}-{case.name}"[:40], f"b{unique}-{case.name}"[:40]
        lab.add_service(case.name, good, busybox_compose())
        secrets[case.name] = _plant_case(lab, case, broken)
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))

    result = fleet("deploy", "--hosts", "all", "--json")
    human = fleet("report")
    assert result.code == 1
    for case in BROKEN_SERVICES:
        entry = result.host(case.name)
        assert entry["status"] == "failed", (case.name, entry)
        assert entry["failed_stage"] == "validate", (case.name, entry)
        assert f"b{unique}-{case.name}"[:40] in entry["error"], (case.name, entry["error"])
        for svc in lab.hosts[case.name].services:
            assert project_container_ids(svc) == [], f"{svc} started despite a failed validate"
    texts = [result.stdout, result.stderr, human.stdout, human.stderr]
    texts += [p.read_text(errors="replace") for p in fleet.state_dir.rglob("*") if p.is_file()]
    for host in lab.hosts.values():
        texts += [
            p.read_text(errors="replace")
            for sub in ("logs", "state", ".fleet")
            for p in (host.root_dir / sub).rglob("*")
            if p.is_file() and p.suffix != ".pyz"
        ]
    blob = "\n".join(texts)
    for case, secret in secrets.items():
        if secret:
            assert_no_trace(secret, blob, case)


def _plant_case(lab: Lab, case: Path, svc: str) -> str | None:
    """Copy a broken case onto its host as service `svc`; returns its planted secret."""
    root = lab.hosts[case.name].root_dir
    target = root / "repo" / "services" / svc
    shutil.copytree(case, target, ignore=shutil.ignore_patterns("env", "override.yml", "README"))
    lab.hosts[case.name].services.append(svc)
    lab.track_project(svc)
    secret = None
    config = root / "config" / svc
    if (case / "env").exists():
        secret = "QzWxVuTsRpNm" + "".join(random.choice("ghijkmnpqrstuvwxyz") for _ in range(8))
        config.mkdir(parents=True, exist_ok=True)
        (config / ".env").write_text((case / "env").read_text().replace("@SECRET@", secret))
    if (case / "override.yml").exists():
        config.mkdir(parents=True, exist_ok=True)
        shutil.copy(case / "override.yml", config / "docker-compose.override.yml")
    return secret


def assert_no_trace(secret: str, text: str, where: str) -> None:
    """Neither the secret nor any 6-character piece of it appears (compose errors can quote
    a part of a value they failed to parse)."""
    for i in range(len(secret) - 5):
        piece = secret[i : i + 6]
        assert piece not in text, f"{where}: a piece of the .env secret ({piece!r}) leaked"


def test_unreachable_git_remote_deploys_from_local_checkout_with_a_warning(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """prepare cannot pull (remote unreachable): the deploy goes on from the local checkout,
    and the report carries the warning."""
    lab = make_lab(["CHELSTY"])
    plan = populate(lab, unique, 1)
    repo = lab.hosts["CHELSTY"].root_dir / "repo"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "-C", str(repo)]
    for step in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["commit", "-q", "-m", "services"],
        ["remote", "add", "origin", "http://127.0.0.1:9/homelab.git"],  # refused at once
        ["config", "branch.main.remote", "origin"],
        ["config", "branch.main.merge", "refs/heads/main"],
    ):
        subprocess.run([*git, *step], check=True)
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))

    result = fleet("deploy", "--hosts", "all")
    assert result.code == 0, result.stdout + result.stderr
    assert running_once(plan["CHELSTY"])
    assert re.search(r"warning", result.stdout, re.IGNORECASE), result.stdout
    assert re.search(r"git|pull", result.stdout, re.IGNORECASE), result.stdout
    (log,) = host_logs(lab, "CHELSTY")
    warnings = [e for e in struct_events(log.read_text()) if e["event"] == "warning"]
    assert any(e.get("stage") == "prepare" for e in warnings), warnings
