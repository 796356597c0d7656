"""A host's secrets for its job: each service's decrypted .env text, or its sha256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from controller.secrets.crypt import decrypt_file
from controller.secrets.files import host_files
from controller.secrets.keys import identities


@dataclass(frozen=True)
class HostSecrets:
    """Plaintext per service, in memory only; repr never shows it."""

    texts: dict[str, str] = field(default_factory=dict, repr=False)

    def hashes(self) -> dict[str, str]:
        return {svc: hashlib.sha256(text.encode()).hexdigest() for svc, text in self.texts.items()}

    def __bool__(self) -> bool:
        return bool(self.texts)


def host_secrets(repo: Path, host: str, services: list[str], identity: str | None) -> HostSecrets:
    """Decrypt the host's files (none: nothing to do, no identity needed). SecretError
    names the first file that cannot be decrypted and why."""
    files = host_files(repo, host, services)
    if not files:
        return HostSecrets()
    keys = identities(identity)
    return HostSecrets({svc: decrypt_file(path, keys) for svc, path in files.items()})
