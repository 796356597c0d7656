"""The job's secrets on the host: each service's .env, as the controller decrypted it.

The text arrives with the job on stdin and lives in memory only; it is written to
R/config/<svc>/.env (0600, atomically) when it differs from what is there, before the
run's log opens, so that the log's scrubber masks the new values too.
"""

from __future__ import annotations

import os

from remote.kit.atomic import atomic_write, ensure_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional

ENV_MODE = 0o600


def env_path(root: str, service: str) -> str:
    return os.path.join(root, "config", service, ".env")


def current(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def write_secrets(root: str, secrets: Dict[str, str]) -> List[str]:
    """Write each service's .env that differs (or is readable by others); the services
    whose .env changed, in order."""
    changed = []
    for service in sorted(secrets):
        path = env_path(root, service)
        data = secrets[service].encode("utf-8")
        if current(path) == data:
            if os.stat(path).st_mode & 0o077:
                os.chmod(path, ENV_MODE)
            continue
        ensure_dir(os.path.dirname(path))
        atomic_write(path, data, mode=ENV_MODE)
        changed.append(service)
    return changed


def env_hash(root: str, service: str) -> Optional[str]:
    """sha256 of the service's .env on the host (None: there is none): `fleet plan`
    compares it with the hash of the text a deploy would write."""
    data = current(env_path(root, service))
    if data is None:
        return None
    import hashlib  # only here: loading OpenSSL costs a runner's start ~4 ms

    return hashlib.sha256(data).hexdigest()
