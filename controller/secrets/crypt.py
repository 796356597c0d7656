"""Decrypt and encrypt one file's text with pyrage; errors name the file and the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyrage

from controller.secrets.keys import SecretError

# What the `age` command writes first: binary (the header's version line) or --armor.
AGE_MAGIC = (b"age-encryption.org/", b"-----BEGIN AGE ENCRYPTED FILE-----")


def decrypt_file(path: Path, identities: tuple[Any, ...]) -> str:
    """The file's plaintext (UTF-8 text, in memory only)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SecretError(f"cannot read {path}: {err.strerror}") from None
    if not data.lstrip().startswith(AGE_MAGIC):
        raise SecretError(f"cannot decrypt {path}: not an age file")
    try:
        plain = pyrage.decrypt(data, list(identities))
    except pyrage.DecryptError as err:
        raise SecretError(f"cannot decrypt {path}: {_reason(err)}") from None
    try:
        return bytes(plain).decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"cannot use {path}: its plaintext is not UTF-8 text") from None


def _reason(err: Exception) -> str:
    text = str(err) or type(err).__name__
    if "No matching keys" in text:
        return "no identity matches its recipients (wrong key?)"
    return f"corrupt or truncated ({text})"


def encrypt(text: str, recipients: list[Any]) -> bytes:
    """The text encrypted to every recipient, as `age` writes it (binary)."""
    try:
        return bytes(pyrage.encrypt(text.encode("utf-8"), recipients))
    except pyrage.EncryptError as err:
        raise SecretError(f"cannot encrypt: {err}") from None
