"""A host's secrets for its job: each service's decrypted .env text, or its sha256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from controller.secrets.crypt import decrypt_file
from controller.secrets.files import host_files
from controller.secrets.keys import SecretError, identities


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


def plan_hashes(
    repo: Path, host: str, services: list[str], identity: str | None
) -> tuple[dict[str, str], dict[str, str]]:
    """`fleet plan`: the sha256 of each service's secret, and, apart, why a service's file
    cannot be decrypted (the plan says that service is invalid; its others are planned)."""
    files = host_files(repo, host, services)
    if not files:
        return {}, {}
    try:
        keys = identities(identity)
    except SecretError as err:
        return {}, {svc: str(err) for svc in files}
    hashes: dict[str, str] = {}
    problems: dict[str, str] = {}
    for svc, path in files.items():
        try:
            hashes[svc] = hashlib.sha256(decrypt_file(path, keys).encode()).hexdigest()
        except SecretError as err:
            problems[svc] = str(err)
    return hashes, problems
