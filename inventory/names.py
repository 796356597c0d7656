"""Names: what a host, group or service may be called, and the closest known name."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

# Names end up in paths and shell commands on the hosts (R/repo/services/<svc>,
# `compose -p <svc>`): letters, digits, '.', '_' and '-', never a leading '.' or '-'.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
NAME_RULE = "use letters, digits, '.', '_' and '-', starting with a letter or digit"


# A service is deployed as the compose project of the same name, and compose refuses a
# project name that is not lowercase letters, digits, '_' and '-' (no '.').
SERVICE_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
SERVICE_RULE = "a service is a compose project: lowercase letters, digits, '_' and '-'"


def is_service_name(text: str) -> bool:
    """True when compose accepts `text` as a project name."""
    return SERVICE_RE.fullmatch(text) is not None


def service_name_hint(name: str) -> str:
    """The rule, with the name written the way compose would take it."""
    fixed = re.sub(r"[^a-z0-9_-]", "-", name.lower()).lstrip("_-")
    return f"{SERVICE_RULE}: e.g. '{fixed}'" if is_service_name(fixed) else SERVICE_RULE


def is_name(text: str) -> bool:
    """True when `text` is a plain name (host, group or service)."""
    return NAME_RE.fullmatch(text) is not None


def closest(word: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """The known names most like `word`, best first; case is ignored when comparing."""
    by_lower: dict[str, str] = {}
    for name in known:
        by_lower.setdefault(name.lower(), name)
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=limit, cutoff=0.6)
    return [by_lower[m] for m in matches]


def did_you_mean(candidates: list[str], prefix: str = "") -> str | None:
    """A "did you mean 'x' or 'y'?" hint, or None when there is nothing to suggest."""
    if not candidates:
        return None
    quoted = [f"'{prefix}{c}'" for c in candidates]
    if len(quoted) == 1:
        return f"did you mean {quoted[0]}?"
    return f"did you mean {', '.join(quoted[:-1])} or {quoted[-1]}?"
