"""The age identity that decrypts (--age-identity, FLEET_AGE_IDENTITY, the default key
file, else the user's SSH keys) and the recipients that encrypt (secrets/recipients)."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pyrage

from controller.errors import FleetError

IDENTITY_ENV = "FLEET_AGE_IDENTITY"
DEFAULT_IDENTITY = "~/.config/fleet/age.key"
SSH_KEYS = ("~/.ssh/id_ed25519", "~/.ssh/id_rsa")
_SSH_NAMES = frozenset(Path(key).name for key in SSH_KEYS)
AGE_SECRET_PREFIX = "AGE-SECRET-KEY-"  # noqa: S105 (how an identity line begins)


class SecretError(FleetError):
    """A secret cannot be decrypted or encrypted; the message names the file, never a value."""


def identity_paths(given: str | None) -> list[Path]:
    """Where the identity comes from, first match wins: the option, the variable, the
    default key file, else each SSH private key the user has."""
    chosen = given or os.environ.get(IDENTITY_ENV)
    if chosen:
        return [Path(chosen).expanduser()]
    default = Path(DEFAULT_IDENTITY).expanduser()
    if default.is_file():
        return [default]
    return [path for key in SSH_KEYS if (path := Path(key).expanduser()).is_file()]


@functools.cache
def identities(given: str | None) -> tuple[Any, ...]:
    """The loaded identities (once per process); SecretError when there are none."""
    paths = identity_paths(given)
    if not paths:
        raise SecretError(
            f"no age identity: give --age-identity FILE, set {IDENTITY_ENV}, or create "
            f"{DEFAULT_IDENTITY} (age-keygen -o {DEFAULT_IDENTITY})"
        )
    if paths[0].name not in _SSH_NAMES:
        return tuple(_load_identity(paths[0]))
    # The fallback: each SSH key that loads (one with a passphrase cannot, here).
    loaded, problems = [], []
    for path in paths:
        try:
            loaded += _load_identity(path)
        except SecretError as err:
            problems.append(str(err))
    if not loaded:
        raise SecretError("; ".join(problems))
    return tuple(loaded)


def _load_identity(path: Path) -> list[Any]:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SecretError(f"cannot read the age identity {path}: {err.strerror}") from None
    text = data.decode(errors="replace")
    try:
        if AGE_SECRET_PREFIX in text:
            return [
                pyrage.x25519.Identity.from_str(line.strip())
                for line in text.splitlines()
                if line.strip().startswith(AGE_SECRET_PREFIX)
            ]
        return [pyrage.ssh.Identity.from_buffer(data)]
    except pyrage.IdentityError as err:
        raise SecretError(f"the age identity {path} cannot be used: {err}") from None


def recipients(path: Path) -> list[Any]:
    """age (age1...) or SSH public keys, one a line; # comments and blank lines skipped."""
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise SecretError(
            f"cannot read the recipients {path}: {err.strerror} (list the age or SSH public"
            " keys to encrypt to there, one a line: age-keygen -y ~/.config/fleet/age.key,"
            " or ~/.ssh/id_ed25519.pub)"
        ) from None
    found = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        found.append(_recipient(line, f"{path}:{number}"))
    if not found:
        raise SecretError(f"{path} lists no recipient (age or SSH public keys, one a line)")
    return found


def _recipient(line: str, where: str) -> Any:
    try:
        if line.startswith("age1"):
            return pyrage.x25519.Recipient.from_str(line)
        return pyrage.ssh.Recipient.from_str(line)
    except pyrage.RecipientError as err:
        raise SecretError(f"{where}: not an age or SSH public key: {err}") from None
