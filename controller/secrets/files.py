"""Where a host's encrypted .env files live in the controller's repo folder."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SECRETS_DIR = "secrets"
SUFFIX = ".env.age"
RECIPIENTS_FILE = "recipients"


def secrets_dir(repo: Path) -> Path:
    return repo / SECRETS_DIR


def file_for(repo: Path, service: str, host: str | None = None) -> Path:
    """secrets/<host>/<svc>.env.age for one host, secrets/<svc>.env.age for every host."""
    folder = secrets_dir(repo) / host if host else secrets_dir(repo)
    return folder / f"{service}{SUFFIX}"


def host_files(repo: Path, host: str, services: Iterable[str]) -> dict[str, Path]:
    """The encrypted file of each of the host's services that has one (the host's own wins)."""
    found: dict[str, Path] = {}
    for service in services:
        for path in (file_for(repo, service, host), file_for(repo, service)):
            if path.is_file():
                found[service] = path
                break
    return found


def recipients_file(repo: Path) -> Path:
    return secrets_dir(repo) / RECIPIENTS_FILE
