"""`fleet secrets edit`: the decrypted text in $EDITOR, then encrypted again to the
recipients. The only place the plaintext is ever on the controller's disk: a 0600
temporary file (in memory-backed /dev/shm where there is one), removed afterwards, also
when the editor is interrupted."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from controller.secrets.crypt import decrypt_file, encrypt
from controller.secrets.files import file_for, recipients_file
from controller.secrets.keys import SecretError, identities, recipients

MEMORY_DIR = "/dev/shm"  # noqa: S108 (mkstemp makes a 0600 file of its own name there)


@dataclass(frozen=True)
class Edited:
    path: Path
    changed: bool
    created: bool


def edit_secret(repo: Path, service: str, host: str | None, identity: str | None) -> Edited:
    """Decrypt (or start empty), edit, encrypt to secrets/recipients when the text changed."""
    path = file_for(repo, service, host)
    keys = recipients(recipients_file(repo))  # before the editor: no edit is lost to it
    existed = path.is_file()
    old = decrypt_file(path, identities(identity)) if existed else ""
    new = edit_text(old, os.environ.get("EDITOR") or "vi")
    if existed and new == old:
        return Edited(path, changed=False, created=False)
    sealed = encrypt(new, keys)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_bytes(sealed)
    temp.replace(path)
    return Edited(path, changed=True, created=not existed)


def edit_text(text: str, editor: str) -> str:
    """The text after the editor saved it; SecretError when the editor fails."""
    folder = MEMORY_DIR if os.access(MEMORY_DIR, os.W_OK) else None
    fd, name = tempfile.mkstemp(prefix="fleet-secret-", suffix=".env", dir=folder)  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        code = subprocess.run([*shlex.split(editor), name], check=False).returncode
        if code != 0:
            raise SecretError(f"the editor ({editor}) exited {code}: nothing was changed")
        return Path(name).read_text(encoding="utf-8")
    finally:
        os.unlink(name)
