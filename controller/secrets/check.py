"""`fleet secrets check`: decrypt every file under secrets/ and say which hosts get it;
never a value (the number of its keys at most)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.secrets.crypt import decrypt_file
from controller.secrets.files import SUFFIX, host_files, secrets_dir
from controller.secrets.keys import SecretError, identities
from inventory import Host


@dataclass
class Checked:
    """One encrypted file: whether it decrypts, and the hosts that would get it."""

    path: Path
    error: str | None = None
    keys: int = 0
    hosts: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"file": str(self.path), "error": self.error, "keys": self.keys, "hosts": self.hosts}


def check_secrets(repo: Path, hosts: Sequence[Host], identity: str | None) -> list[Checked]:
    folder = secrets_dir(repo)
    found = {path: Checked(path) for path in sorted(folder.glob(f"*{SUFFIX}"))}
    found.update({path: Checked(path) for path in sorted(folder.glob(f"*/*{SUFFIX}"))})
    for host in hosts:
        for path in host_files(repo, host.name, host.services).values():
            found[path].hosts.append(host.name)
    for checked in found.values():
        try:
            text = decrypt_file(checked.path, identities(identity))
        except SecretError as err:
            checked.error = str(err)
        else:
            checked.keys = sum(1 for line in text.splitlines() if _is_assignment(line))
    return list(found.values())


def _is_assignment(line: str) -> bool:
    line = line.strip()
    return bool(line) and not line.startswith("#") and "=" in line
