"""Secrets from the repo end to end: files the `age` command encrypts (to an X25519 key
and to an ssh-ed25519 key) deploy through real sshd hosts into the container's
environment; the value appears in no output, log, report or controller file; a changed
secret recreates that one service; a wrong identity fails that host in prepare with the
file's path, other hosts go on; files fleet writes, `age` decrypts."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from tests.e2e.support import Fleet
from tests.lab import Lab, busybox_compose, project_container_ids

MakeLab = Callable[[Iterable[str]], Lab]

pytestmark = pytest.mark.e2e

# Short timeouts: a failing host should not hold the suite.
QUICK = ("--verify-timeout", "20", "--connect-timeout", "5", "--reconnect-timeout", "5")


@pytest.fixture
def age() -> str:
    found = shutil.which("age")
    if found is None:
        pytest.skip("the Debian `age` package is not installed (scripts/world.sh installs it)")
    return found


def run(*argv: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(argv, input=stdin, capture_output=True, check=True).stdout


class Keys:
    """An age X25519 key and an ssh-ed25519 key, made by their own tools."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir()
        self.age_key = folder / "age.key"
        run("age-keygen", "-o", str(self.age_key))
        self.age_public = run("age-keygen", "-y", str(self.age_key)).decode().strip()
        self.ssh_key = folder / "id_ed25519"
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.ssh_key))
        self.ssh_public = Path(f"{self.ssh_key}.pub").read_text().strip()

    def seal_age(self, path: Path, text: str, *, armor: bool = False) -> None:
        """`age -r AGE1...` (binary, or --armor)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = ["-a"] if armor else []
        run("age", *flags, "-r", self.age_public, "-o", str(path), stdin=text.encode())

    def seal_ssh(self, path: Path, text: str) -> None:
        """`age -R id_ed25519.pub --armor`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        pub = f"{self.ssh_key}.pub"
        run("age", "-a", "-R", pub, "-o", str(path), stdin=text.encode())


def env_of(project: str) -> list[str]:
    ids = project_container_ids(project)
    assert ids, f"no container of {project}"
    out = run("docker", "inspect", "--format", "{{json .Config.Env}}", ids[0])
    return list(json.loads(out))


def files_holding(folder: Path, secret: str, skip: tuple[str, ...] = ()) -> list[Path]:
    """Every regular file under folder (symlinks not followed) whose bytes hold secret."""
    found = []
    for path in folder.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        if path.relative_to(folder).parts[0] in skip:
            continue
        if secret.encode() in path.read_bytes():
            found.append(path)
    return found


def compose_with_env() -> str:
    """TOKEN interpolated from the host's .env (compose's `config --hash` disagrees with
    its own label for `env_file:` services, which would blur what plan says)."""
    return busybox_compose() + "    environment:\n      TOKEN: ${TOKEN:-none}\n"


def test_secrets_deploy_and_stay_secret(
    make_lab: MakeLab, unique: str, tmp_path: Path, age: str
) -> None:
    lab = make_lab(["nas", "pi"])
    svc_a, svc_b, svc_c, svc_d = (f"{s}-{unique}" for s in ("sa", "sb", "sc", "sd"))
    for svc in (svc_a, svc_b):
        lab.add_service("nas", svc, compose_with_env())
    lab.add_service("nas", svc_c, compose_with_env(), env="TOKEN=by-hand\n")
    lab.add_service("pi", svc_d)
    keys = Keys(tmp_path / "keys")
    token_a, token_b, token_a2 = (f"tok-{uuid.uuid4().hex}" for _ in range(3))
    repo = tmp_path / "repo"
    secrets = repo / "secrets"
    keys.seal_age(secrets / f"{svc_a}.env.age", f"TOKEN={token_a}\n")
    keys.seal_age(secrets / "nas" / f"{svc_b}.env.age", f"TOKEN={token_b}\n", armor=True)
    (secrets / f"{svc_b}.env.age").write_bytes(b"not age at all")  # the host's own file wins
    inventory = lab.write_inventory(repo / "hosts.yml")
    fleet = Fleet(tmp_path / "state", inventory)
    nas_root = lab.hosts["nas"].root_dir
    hand_env = nas_root / "config" / svc_c / ".env"
    hand_mtime = hand_env.stat().st_mtime_ns

    # A wrong identity: nas fails in prepare, naming the file, with nothing changed on it.
    wrong = tmp_path / "wrong.key"
    run("age-keygen", "-o", str(wrong))
    failed = fleet("deploy", "--json", *QUICK, "--age-identity", str(wrong))
    assert failed.code == 1, failed.stderr
    nas = failed.host("nas")
    assert nas["status"] == "failed" and nas["failed_stage"] == "prepare"
    assert f"secrets/{svc_a}.env.age" in nas["error"]
    assert failed.host("pi")["status"] == "completed"
    assert not (nas_root / "logs").exists() and not project_container_ids(svc_a)
    # plan says so per service: the undecryptable ones invalid, naming the file; the rest planned
    planned_wrong = fleet("plan", "--json", "--hosts", "nas", "--age-identity", str(wrong))
    assert planned_wrong.code == 1, planned_wrong.stderr
    nas_plan = planned_wrong.report["hosts"]["nas"]
    assert nas_plan["status"] == "planned", nas_plan
    assert nas_plan["services"][svc_a]["action"] == "invalid"
    assert f"secrets/{svc_a}.env.age" in nas_plan["services"][svc_a]["reason"]
    assert nas_plan["services"][svc_c]["action"] == "create"

    # X25519 files (binary and --armor) as `age` made them deploy into the environment.
    first = fleet("deploy", "--json", *QUICK, "--hosts", "nas", "--age-identity", str(keys.age_key))
    assert first.code == 0, first.stdout + first.stderr
    assert f"TOKEN={token_a}" in env_of(svc_a)
    assert f"TOKEN={token_b}" in env_of(svc_b)
    for svc in (svc_a, svc_b):
        assert (nas_root / "config" / svc / ".env").stat().st_mode & 0o777 == 0o600
    assert hand_env.read_text() == "TOKEN=by-hand\n"
    assert hand_env.stat().st_mtime_ns == hand_mtime
    before = {svc: project_container_ids(svc) for svc in (svc_a, svc_b, svc_c)}

    # ssh-ed25519 files: a's value changes, b's stays; plan says so, deploy recreates a only.
    keys.seal_ssh(secrets / f"{svc_a}.env.age", f"TOKEN={token_a2}\n")
    keys.seal_ssh(secrets / "nas" / f"{svc_b}.env.age", f"TOKEN={token_b}\n")
    ssh_identity = ("--age-identity", str(keys.ssh_key))
    plan = fleet("plan", "--json", "--hosts", "nas", *ssh_identity)
    planned = plan.report["hosts"]["nas"]["services"]
    assert planned[svc_a]["action"] == "recreate" and "secret changed" in planned[svc_a]["reason"]
    assert planned[svc_b]["action"] == "unchanged", planned
    second = fleet("deploy", "--json", *QUICK, "--hosts", "nas", *ssh_identity)
    assert second.code == 0, second.stdout + second.stderr
    assert f"TOKEN={token_a2}" in env_of(svc_a)
    assert project_container_ids(svc_a) != before[svc_a]
    assert {svc: project_container_ids(svc) for svc in (svc_b, svc_c)} == {
        svc: before[svc] for svc in (svc_b, svc_c)
    }

    # A resume gets the secrets again and writes nothing that is already there.
    after = project_container_ids(svc_a)
    resumed = fleet("resume", "nas", "--json", *QUICK, *ssh_identity)
    assert resumed.code == 0, resumed.stdout + resumed.stderr
    assert project_container_ids(svc_a) == after

    # The values: in no output, report, record, run log, saved plan or state file.
    outputs = [failed, first, plan, second, resumed]
    for token in (token_a, token_b, token_a2):
        for result in outputs:
            assert token not in result.stdout + result.stderr
        assert files_holding(fleet.state_dir, token) == []
        for host in ("nas", "pi"):
            assert files_holding(lab.hosts[host].root_dir, token, skip=("config",)) == []


def test_files_fleet_writes_decrypt_with_age(tmp_path: Path, age: str) -> None:
    """`fleet secrets edit` (via $EDITOR, to secrets/recipients) and `fleet secrets check`;
    no host is contacted."""
    keys = Keys(tmp_path / "keys")
    repo = tmp_path / "repo"
    (repo / "secrets").mkdir(parents=True)
    (repo / "secrets" / "recipients").write_text(f"# ops\n{keys.age_public}\n{keys.ssh_public}\n")
    inventory = repo / "hosts.yml"
    inventory.write_text(
        "hosts:\n  nas:\n    address: 127.0.0.1\n    services: [web, db]\n"
        "  pi:\n    address: 127.0.0.2\n    services: [web]\n"
    )
    token = f"tok-{uuid.uuid4().hex}"
    editor = tmp_path / "editor"
    editor.write_text(f"#!/bin/sh\nprintf 'A=1\\nTOKEN={token}\\n' > \"$1\"\n")
    editor.chmod(0o755)
    fleet = Fleet(tmp_path / "state")  # -i goes after the subcommand: `secrets edit -i`
    fleet.env.update(EDITOR=str(editor), FLEET_AGE_IDENTITY=str(keys.age_key))

    made = fleet("secrets", "edit", "web", "-i", str(inventory))
    assert made.code == 0, made.stderr
    assert token not in made.stdout + made.stderr
    sealed = repo / "secrets" / "web.env.age"
    for identity in (keys.age_key, keys.ssh_key):
        assert (
            run("age", "-d", "-i", str(identity), str(sealed)).decode() == f"A=1\nTOKEN={token}\n"
        )
    host_own = fleet("secrets", "edit", "db", "--host", "nas", "-i", str(inventory))
    assert host_own.code == 0, host_own.stderr
    assert (repo / "secrets" / "nas" / "db.env.age").is_file()
    assert not list(Path("/dev/shm").glob("fleet-secret-*"))

    checked = fleet("secrets", "check", "--json", "-i", str(inventory))
    assert checked.code == 0, checked.stdout + checked.stderr
    assert token not in checked.stdout
    files = {Path(f["file"]).name: f for f in checked.report["files"]}
    assert files["web.env.age"]["hosts"] == ["nas", "pi"] and files["web.env.age"]["keys"] == 2
    assert files["db.env.age"]["hosts"] == ["nas"]

    (repo / "secrets" / "web.env.age").write_bytes(sealed.read_bytes()[:40])  # truncated
    broken = fleet("secrets", "check", "-i", str(inventory))
    assert broken.code == 1 and "web.env.age" in broken.stdout, broken.stdout
