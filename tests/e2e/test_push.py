"""source: push end to end: a host without git gets its services from the controller."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import Fleet, host_logs
from tests.lab import Lab, busybox_compose

MakeLab = Callable[[Iterable[str]], Lab]

pytestmark = pytest.mark.e2e

HOST = "pusher"
HEALTHCHECK = "#!/bin/sh\nexit 0\n"
BIG = 8 * 1024 * 1024  # random bytes: no compression makes them smaller on the wire
CUT_AT = 3 * 1024 * 1024  # client->host bytes on one connection, well inside BIG


def local_repo(tmp_path: Path, svc: str) -> Path:
    """The controller's copy of the homelab repo: one service with an executable check."""
    service = tmp_path / "homelab" / "services" / svc
    service.mkdir(parents=True)
    (service / "compose.yaml").write_text(busybox_compose())
    (service / "healthcheck.sh").write_text(HEALTHCHECK)
    (service / "healthcheck.sh").chmod(0o755)
    return tmp_path / "homelab"


def push_meta(fleet: Fleet, run_id: str) -> dict[str, Any]:
    return fleet.meta(run_id)["hosts"][HOST]["push"]  # type: ignore[no-any-return]


def current_rev(lab: Lab) -> str:
    link = lab.hosts[HOST].root_dir / "repo"
    assert link.is_symlink(), "R/repo of a push host is a link to a revision"
    return os.path.basename(os.readlink(link))


def has_object(lab: Lab, data: bytes) -> bool:
    sha = hashlib.sha256(data).hexdigest()
    return (lab.hosts[HOST].root_dir / ".fleet" / "objects" / sha).is_file()


def push_lab(make_lab: MakeLab, tmp_path: Path, unique: str) -> tuple[Lab, str, Path]:
    lab = make_lab([HOST])
    lab.hide_git(HOST)
    svc = f"h17-{unique}-web"
    lab.track_project(svc)
    return lab, svc, local_repo(tmp_path, svc)


def test_a_push_host_without_git_deploys_and_an_unchanged_tree_sends_nothing(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """No git on the host: it deploys what the controller sends; a rerun sends 0 file
    bytes, and a changed file is the only one sent."""
    lab, svc, repo = push_lab(make_lab, tmp_path, unique)
    inventory = lab.write_inventory(
        tmp_path / "hosts.yml", services={HOST: [svc]}, **{HOST: {"source": "push"}}
    )
    fleet = Fleet(tmp_path / "state", inventory)

    before = fleet("plan", "--json", "--repo", str(repo))
    planned = before.report["hosts"][HOST]["services"][svc]
    assert planned["action"] == "create", planned  # not `invalid`: the push brings the files
    assert planned["reason"].startswith("after the push (2 files)"), planned

    first = fleet("deploy", "--json", "--repo", str(repo))
    assert first.code == 0, first.stderr
    assert first.host(HOST)["status"] == "completed"
    sent = push_meta(fleet, first.report["run_id"])
    files = list((repo / "services" / svc).iterdir())
    assert sent["files_sent"] == 2 and sent["bytes_sent"] == sum(f.stat().st_size for f in files)
    on_host = lab.hosts[HOST].root_dir / "repo" / "services" / svc
    assert os.access(on_host / "healthcheck.sh", os.X_OK), "the executable bit is kept"
    assert lab.git_calls(HOST) == "", "a push host never runs git"
    assert f"deploying revision {current_rev(lab)}" in host_logs(lab, HOST)[-1].read_text()

    second = fleet("deploy", "--json", "--repo", str(repo))
    assert second.code == 0, second.stderr
    assert push_meta(fleet, second.report["run_id"])["bytes_sent"] == 0
    assert push_meta(fleet, second.report["run_id"])["files_sent"] == 0

    unchanged_plan = fleet("plan", "--json", "--repo", str(repo))
    push_plan = unchanged_plan.report["hosts"][HOST]["push"]
    assert (push_plan["files"], push_plan["current"]) == ([], True), push_plan

    changed = busybox_compose() + "# one changed line\n"
    (repo / "services" / svc / "compose.yaml").write_text(changed)
    changed_plan = fleet("plan", "--json", "--repo", str(repo))
    assert changed_plan.code == 1, changed_plan.stdout + changed_plan.stderr
    push_plan = changed_plan.report["hosts"][HOST]["push"]
    assert push_plan["files"] == [f"services/{svc}/compose.yaml"], push_plan
    after = changed_plan.report["hosts"][HOST]["services"][svc]
    assert after["action"] == "recreate" and after["reason"].startswith("after the push")
    third = fleet("deploy", "--json", "--repo", str(repo))
    assert third.code == 0, third.stderr
    sent = push_meta(fleet, third.report["run_id"])
    assert (sent["files_sent"], sent["bytes_sent"]) == (1, len(changed))
    assert (on_host / "compose.yaml").read_text() == changed


class CuttingProxy:
    """A TCP proxy to a lab host's sshd that, once armed, closes the connection after
    `cut_at` client bytes: a link lost at a chosen byte, deterministically."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut_at: int | None = None
        self.cuts = 0
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream, timeout=5)
            server.settimeout(None)
            self._socks += [client, server]
            cut, self.cut_at = self.cut_at, None  # one connection is cut, once
            threading.Thread(target=self._pump, args=(client, server, cut), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, None), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, cut: int | None) -> None:
        seen = 0
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                seen += len(data)
                if cut is not None and seen > cut:
                    self.cuts += 1
                    break
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()
        for sock in self._socks:
            with contextlib.suppress(OSError):
                sock.close()


@contextlib.contextmanager
def proxy_to(lab: Lab, tmp_path: Path) -> Iterator[tuple[CuttingProxy, Path]]:
    """The proxy, and a known_hosts that trusts the host's key at the proxy's address."""
    host = lab.hosts[HOST]
    proxy = CuttingProxy((host.address, host.port))
    key = (host.sshd_dir / "ssh_host_ed25519_key.pub").read_text().split()
    known = tmp_path / "known_hosts_proxy"
    known.write_text(f"[127.0.0.1]:{proxy.port} {key[0]} {key[1]}\n")
    try:
        yield proxy, known
    finally:
        proxy.close()


def test_a_cut_mid_transfer_keeps_the_old_revision_and_resume_sends_the_rest(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """The link drops inside a large file: the host deploys its old revision (with a
    warning), keeps what arrived whole, and the resume sends only the rest and deploys
    the new revision."""
    lab, svc, repo = push_lab(make_lab, tmp_path, unique)
    with proxy_to(lab, tmp_path) as (proxy, known):
        entry = {"source": "push", "address": "127.0.0.1", "port": proxy.port}
        entry["known_hosts"] = str(known)
        inventory = lab.write_inventory(
            tmp_path / "hosts.yml", services={HOST: [svc]}, **{HOST: entry}
        )
        fleet = Fleet(tmp_path / "state", inventory)
        assert fleet("deploy", "--json", "--repo", str(repo)).code == 0
        old = current_rev(lab)

        changed = busybox_compose() + "# changed with the big file\n"
        (repo / "services" / svc / "compose.yaml").write_text(changed)
        big = os.urandom(BIG)
        (repo / "services" / svc / "big.bin").write_bytes(big)
        proxy.cut_at = CUT_AT
        cut = fleet("deploy", "--json", "--repo", str(repo), "--reconnect-timeout", "20")
        assert proxy.cuts == 1, "the link was cut mid-transfer"
        assert cut.code == 0, cut.stderr
        warnings = fleet.meta(cut.report["run_id"])["hosts"][HOST]["warnings"]
        assert any("push cut by a lost link" in w for w in warnings), warnings
        assert current_rev(lab) == old, "a cut transfer never switches R/repo"
        assert f"deploying revision {old}" in host_logs(lab, HOST)[-1].read_text()
        assert has_object(lab, changed.encode()), "what arrived whole stays"
        assert not has_object(lab, big)

        resumed = fleet("resume", HOST, "--json", "--repo", str(repo))
        assert resumed.code == 0, resumed.stderr
        sent = push_meta(fleet, resumed.report["run_id"])
        assert (sent["files_sent"], sent["bytes_sent"]) == (1, BIG), "only what did not arrive"
        assert current_rev(lab) == sent["rev"] != old
        assert resumed.host(HOST)["services"] == {svc: "completed"}, "the new revision deploys"
        assert lab.git_calls(HOST) == ""
