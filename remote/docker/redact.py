"""The secrets of a host's .env files, so that no log line or report carries them.

The rule (docs/stacks.md): a value is a secret when its key names one (a part of the key
such as PASSWORD, DBPASS, SECRET, TOKEN, API_KEY, CREDENTIALS, AUTH) or, whatever its key,
when it looks random (a long token of mixed letters and digits, hex, base64) or is the
password of a URL (scheme://user:PASSWORD@host). Never a secret: a value shorter than 4
characters, a boolean, a number (under a secret key: up to 5 digits), a path, a URL, a
DNS name, compose's own words, and a value equal to one of the run's service names or its
host name; and a mask never cuts into a service name, the host name or the root's path.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, List, Tuple

MASK = "***"
# Shorter values cannot be masked without garbling every line that contains them.
MIN_SECRET_LENGTH = 4
# A secret-named value of digits only is a setting (a port, a TTL) up to this length;
# longer it is a PIN or a numeric password.
MAX_SETTING_DIGITS = 5
# Shorter tokens are words, versions or ids more often than keys.
MIN_RANDOM_LENGTH = 16
SECRET_KEY_WORDS = (
    "PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "SECRETS", "TOKEN", "TOKENS", "KEY",
    "KEYS", "CREDENTIAL", "CREDENTIALS", "AUTH", "SALT", "PRIVATE", "COOKIE", "SIGNATURE",
)  # fmt: skip
NOT_SECRETS = frozenset((
    "true", "false", "yes", "no", "on", "off", "none", "null", "nil", "enabled", "disabled",
    "localhost", "latest", "stable", "service", "services", "container", "containers", "image",
    "images", "volume", "volumes", "network", "networks", "secret", "secrets", "config",
    "configs", "project", "build", "pull", "push", "up", "down", "start", "started", "stop",
    "stopped", "create", "created", "recreate", "running", "exited", "restarting", "healthy",
    "unhealthy", "starting", "waiting", "error", "failed", "warning", "default", "external",
    "internal", "driver", "bridge", "host", "name", "file", "env", "environment", "profile",
    "profiles", "depends", "condition", "restart", "always", "unless-stopped", "on-failure",
    "never", "missing", "required",
))  # fmt: skip
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=_-")
_HEX = frozenset("0123456789abcdefABCDEF")
_DNS_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")


def env_pairs(path: str) -> List[Tuple[str, str]]:
    """(KEY, VALUE) of a .env file: KEY=VALUE lines, optional `export`, optional quotes,
    ` # comments` after unquoted values (as compose reads them)."""
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key, value = key.strip(), value.strip()
        if key.startswith("export "):
            key = key[len("export ") :].strip()
        if len(value) >= 2 and value[0] in "'\"" and value.rfind(value[0]) > 0:
            value = value[1 : value.rfind(value[0])]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        pairs.append((key, value))
    return pairs


def env_values(path: str) -> List[str]:
    """The values of a .env file (see env_pairs)."""
    return [value for _, value in env_pairs(path)]


def is_secret_key(key: str) -> bool:
    """A key one of whose parts (split at _ and __) is or ends with a secret word:
    DB_PASSWORD, PAPERLESS_DBPASS, API_KEY, APIKEY; not AUTHENTIK_HOST."""
    parts = [part for part in key.upper().replace("-", "_").split("_") if part]
    return any(part.endswith(word) for part in parts for word in SECRET_KEY_WORDS)


def secrets_of(pairs: Iterable[Tuple[str, str]], protected: Iterable[str] = ()) -> List[str]:
    """The values to mask among a .env's pairs; `protected` (service and host names) never."""
    spared = {name.lower() for name in protected}
    found = []
    for key, value in pairs:
        password = _url_password(value)
        candidates = [password] if password else []
        if (is_secret_key(key) and _secret_shaped(value)) or looks_random(value):
            candidates.append(value)
        found += [c for c in candidates if len(c) >= MIN_SECRET_LENGTH and c.lower() not in spared]
    return found


def _secret_shaped(value: str) -> bool:
    """Whether the value of a secret-named key is one (not a setting that happens to sit
    under such a name: a path, a URL, a word compose uses, a short number)."""
    if value.lower() in NOT_SECRETS or _is_path(value) or "://" in value or _is_dns_name(value):
        return False
    return not (value.isdigit() and len(value) <= MAX_SETTING_DIGITS)


def looks_random(value: str) -> bool:
    """A long token that no person chose: mixed case and digits, hex, or letters and
    digits interleaved (pwgen, openssl rand, base64)."""
    if len(value) < MIN_RANDOM_LENGTH or not set(value) <= _TOKEN_CHARS or _is_path(value):
        return False
    lower = any(c.islower() for c in value)
    upper = any(c.isupper() for c in value)
    digit = any(c.isdigit() for c in value)
    if lower and upper and digit:
        return True
    if digit and set(value) <= _HEX and not value.isdigit():
        return True
    chunks = value.replace("-", "_").replace("+", "_").replace("/", "_").split("_")
    return any(len(c) >= MIN_RANDOM_LENGTH - 4 and _digit_runs(c) >= 3 for c in chunks)


def _digit_runs(text: str) -> int:
    runs, previous = 0, False
    for c in text:
        if c.isdigit() and not previous:
            runs += 1
        previous = c.isdigit()
    return runs


def _is_path(value: str) -> bool:
    """/run/secrets/db_password, ./certs/key.pem: a path with a folder or a file suffix."""
    if not value.startswith(("/", "./", "../", "~/")) or any(c.isspace() for c in value):
        return False
    parts = [part for part in value.split("/") if part not in ("", ".", "..", "~")]
    last = parts[-1] if parts else ""
    suffix = last.rsplit(".", 1)[1] if "." in last else ""
    return len(parts) >= 2 or (0 < len(suffix) <= 4 and suffix.isalpha())


def _is_dns_name(value: str) -> bool:
    labels = value.lower().split(".")
    return (
        len(labels) >= 2
        and set(value.lower()) <= _DNS_CHARS
        and all(labels)
        and labels[-1].isalpha()
    )


def _url_password(value: str) -> str:
    """The password in scheme://user:password@host..., or ""."""
    if "://" not in value:
        return ""
    rest = value.split("://", 1)[1]
    userinfo = rest.split("/", 1)[0].rpartition("@")[0]
    return userinfo.split(":", 1)[1] if ":" in userinfo else ""


class Scrubber(object):
    """Replaces every known secret value in a text with ***, except inside the words it
    must keep readable (service names, host name, root path)."""

    def __init__(self, values: Iterable[str] = (), keep: Iterable[str] = ()) -> None:
        secrets = {v for v in values if len(v) >= MIN_SECRET_LENGTH}
        secrets -= {v for v in secrets if v.lower() in NOT_SECRETS}
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted(secrets, key=len, reverse=True)
        keep = sorted({k for k in keep if k}, key=len, reverse=True)
        # Only a secret that is a piece of a kept word needs the slow, careful path.
        self._inside = {s: [k for k in keep if s in k and s != k] for s in self._secrets}

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret not in text:
                continue
            inside = self._inside[secret]
            text = _replace_outside(text, secret, inside) if inside else text.replace(secret, MASK)
        return text


def _replace_outside(text: str, secret: str, keep: List[str]) -> str:
    """text with secret masked wherever it is not part of one of the kept words."""
    kept = []  # (start, end) spans of the kept words in text
    for word in keep:
        start = text.find(word)
        while start >= 0:
            kept.append((start, start + len(word)))
            start = text.find(word, start + 1)
    out, position = [], 0
    start = text.find(secret)
    while start >= 0:
        end = start + len(secret)
        if not any(a <= start and end <= b for a, b in kept):
            out += [text[position:start], MASK]
            position = end
        start = text.find(secret, end if position == end else start + 1)
    return "".join(out) + text[position:]


def scrubber_for(root: str, services: Iterable[str], host: str = "") -> Scrubber:
    names = list(services)
    keep = [*names, host, root] if host else [*names, root]
    values: List[str] = []
    for name in names:
        values += secrets_of(env_pairs(os.path.join(root, "config", name, ".env")), keep)
    return Scrubber(values, keep)
