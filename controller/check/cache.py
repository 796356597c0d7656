"""What `fleet check` remembers between runs: each host's compose plugin answer, with the
identity of the binary that gave it ($XDG_STATE_HOME/fleet/check-cache.json).

Starting the plugin (a 76 MB static Go binary) is most of what a check costs a host, and
its `version --short` is fixed when it is built: the same file answers the same. So a
host's answer is kept with the binary's identity as the probe saw it (`stat -L`: device,
inode, size, mtime and ctime to the nanosecond, then its path), and the next probe is told
that identity: it only runs the binary when what it finds differs. ctime cannot be set
back by anyone (an upgrade, a copy, a chmod or a `touch` all move it), a binary gone or no
longer executable is not found, so none of these can be answered from here.

Only an ELF binary is remembered: a script's answer depends on what it runs. An entry is
dropped when the binary fails to answer, and is only good for the address, port and user
it was seen under. A file this cannot read is an empty cache; one it cannot write is
silently left alone (the next check asks the binary again).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from controller.report.store import write_atomic
from inventory import Host

CACHE_FILE = "check-cache.json"
FORMAT = 1


@dataclass(frozen=True, slots=True)
class ComposeSeen:
    """One host's compose plugin as the last check saw it answer."""

    address: str
    port: int | None
    user: str | None
    binary: str  # the probe's identity line for the plugin: compared as it is, never parsed
    version: str  # what `version --short` printed, as printed
    asked: float  # when (Unix time)

    def fits(self, host: Host) -> bool:
        """Seen on this host as the inventory names it now (not a host renamed onto it)."""
        return (self.address, self.port, self.user) == (host.address, host.port, host.user)

    @staticmethod
    def from_json(data: Any) -> ComposeSeen | None:
        try:
            seen = ComposeSeen(
                address=data["address"],
                port=data["port"],
                user=data["user"],
                binary=data["binary"],
                version=data["version"],
                asked=float(data["asked"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        fields_ok = (
            isinstance(seen.address, str)
            and (seen.port is None or isinstance(seen.port, int))
            and (seen.user is None or isinstance(seen.user, str))
            and isinstance(seen.binary, str)
            and "\n" not in seen.binary
            and bool(seen.binary)
            and isinstance(seen.version, str)
        )
        return seen if fields_ok else None


def _read(path: Path) -> dict[str, ComposeSeen]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return {}
    hosts = data.get("compose")
    if not isinstance(hosts, dict):
        return {}
    found = {}
    for name, entry in hosts.items():
        seen = ComposeSeen.from_json(entry)
        if isinstance(name, str) and seen is not None:
            found[name] = seen
    return found


class CheckCache:
    """The cache file, read once; save() writes back only the hosts this run changed."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._seen = _read(path) if path is not None else {}
        self._changed: dict[str, ComposeSeen | None] = {}

    @classmethod
    def in_state_dir(cls, folder: Path) -> CheckCache:
        return cls(folder / CACHE_FILE)

    def known(self, host: Host) -> ComposeSeen | None:
        """The host's remembered answer, if it was seen under the same address and user."""
        seen = self._seen.get(host.name)
        return seen if seen is not None and seen.fits(host) else None

    def remember(self, host: Host, binary: str, version: str, asked: float) -> None:
        seen = ComposeSeen(host.address, host.port, host.user, binary, version, asked)
        if self._seen.get(host.name) != seen:
            self._seen[host.name] = seen
            self._changed[host.name] = seen

    def forget(self, host: Host) -> None:
        if self._seen.pop(host.name, None) is not None:
            self._changed[host.name] = None

    def save(self) -> None:
        """Merge this run's changes into the file as it is now (another check may have
        written it meanwhile); never raises for the file's sake."""
        if self.path is None or not self._changed:
            return
        current = _read(self.path)
        for name, seen in self._changed.items():
            if seen is None:
                current.pop(name, None)
            else:
                current[name] = seen
        data = {"format": FORMAT, "compose": {n: asdict(s) for n, s in sorted(current.items())}}
        try:
            write_atomic(self.path, (json.dumps(data, indent=1) + "\n").encode())
        except OSError:
            return
        self._changed.clear()
