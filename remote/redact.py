"""The .env values of a host's services, so that no log line or report carries them."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, List

MASK = "***"
# Values this short or this common are not secrets, and masking them would garble
# every log line that happens to contain them.
MIN_SECRET_LENGTH = 4
NOT_SECRETS = frozenset(["true", "false", "yes", "none", "null"])


def env_values(path: str) -> List[str]:
    """The values of a .env file (KEY=VALUE lines, optional `export`, optional quotes)."""
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    values = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        value = line.split("=", 1)[1].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values.append(value)
    return values


class Scrubber(object):
    """Replaces every known secret value in a text with ***."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        secrets = {v for v in values if len(v) >= MIN_SECRET_LENGTH}
        secrets -= {v for v in secrets if v.lower() in NOT_SECRETS}
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted(secrets, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


def scrubber_for(root: str, services: Iterable[str]) -> Scrubber:
    values: List[str] = []
    for name in services:
        values += env_values(os.path.join(root, "config", name, ".env"))
    return Scrubber(values)
