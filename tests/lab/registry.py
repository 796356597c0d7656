"""A real image registry for the lab: Debian's `docker-registry` (the distribution registry).

It listens on one loopback address and a port chosen free at start, keeps its storage in
the lab's workdir and writes an access log there, so a test can count what reached it.
dockerd allows plain HTTP to registries on 127.0.0.0/8, so `docker push/pull
ADDRESS:PORT/x:1` works without TLS. Started and stopped by its pid like the sshd hosts;
`cut` drops packets to its port (a registry behind a dead link).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.lab.procs import alive

REGISTRY = "/usr/bin/docker-registry"
START_S = 15.0
# One access log line per request, e.g. `127.0.0.1 - - [...] "GET /v2/x/manifests/1 HTTP/1.1" 200`.
ACCESS_LINE = re.compile(r'\] "[A-Z]+ /v2/')
STOP_S = 5.0

CONFIG = """\
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: {address}:{port}
"""


class RegistryError(RuntimeError):
    """The lab registry could not be started or used."""


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def _docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


class Registry:
    """One registry process; `image(name)` is the reference docker and compose use."""

    def __init__(self, workdir: Path, address: str) -> None:
        self.dir = Path(workdir).resolve()
        self.address = address
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.images: set[str] = set()  # every reference pushed: removed locally at close
        self._rules: list[list[str]] = []

    @property
    def log_path(self) -> Path:
        return self.dir / "registry.log"

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{self.port}"

    def image(self, name: str) -> str:
        return f"{self.endpoint}/{name}"

    def start(self) -> None:
        """Start it (on the same port after a stop) and wait until it answers /v2/."""
        if not Path(REGISTRY).exists():
            raise RegistryError(f"{REGISTRY} is missing: install Debian's docker-registry")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or _free_port(self.address)
        config = self.dir / "config.yml"
        storage = self.dir / "storage"
        config.write_text(CONFIG.format(storage=storage, address=self.address, port=self.port))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [REGISTRY, "serve", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.address, self.port), 0.5),
            ):
                return
            time.sleep(0.05)
        tail = self.log_path.read_text(errors="replace")[-500:]
        self.stop()
        raise RegistryError(f"the registry on {self.endpoint} did not start: {tail}")

    def stop(self) -> None:
        """Stop it by its pid (never by name), waiting a bounded time."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_S)

    @property
    def running(self) -> bool:
        return self.proc is not None and alive(self.proc.pid)

    def cut(self) -> None:
        """Drop every packet to its port: pulls hang as on a dead link."""
        rule = ["INPUT", "-d", self.address, "-p", "tcp", "--dport", str(self.port), "-j", "DROP"]
        subprocess.run(["iptables", "-w", "-I", *rule], check=True, capture_output=True)
        self._rules.append(rule)

    def restore(self) -> None:
        for rule in self._rules:
            subprocess.run(["iptables", "-w", "-D", *rule], capture_output=True)
        self._rules.clear()

    def requests(self) -> int:
        """How many HTTP requests for the registry API reached it (its access log)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return 0
        return len(ACCESS_LINE.findall(text))

    def push(self, source: str, name: str, label: str | None = None) -> str:
        """Tag a local image as NAME on this registry (with a label: a new image, same
        content, another ID) and push it. Returns the reference."""
        ref = self.image(name)
        self.images.add(ref)
        if label is None:
            _check(_docker("tag", source, ref))
        else:
            created = _check(_docker("create", source, "sh"))
            cid = created.stdout.strip()
            try:
                _check(_docker("commit", "--change", f"LABEL fleet.test={label}", cid, ref))
            finally:
                _docker("rm", "-f", cid)
        _check(_docker("push", "--quiet", ref))
        return ref

    def close(self) -> None:
        """Stop, lift its rules, remove the pulled and pushed images and its storage."""
        self.restore()
        self.stop()
        for ref in sorted(self.images):
            _docker("rmi", "-f", ref)
            # A tag moved by a pull leaves the old image's digest reference behind.
            repo = ref.rpartition(":")[0]
            listed = _docker("images", "--digests", "--format", "{{.Digest}}", repo).stdout
            for digest in set(listed.split()) - {"<none>"}:
                _docker("rmi", f"{repo}@{digest}")
        shutil.rmtree(self.dir / "storage", ignore_errors=True)


def _check(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    if result.returncode != 0:
        raise RegistryError(f"{' '.join(result.args)}: {result.stderr.strip()[-400:]}")
    return result
