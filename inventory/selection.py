"""Host selection: `all`, names, `@group`, shell globs, and comma lists of them."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

from inventory.errors import SelectionError
from inventory.names import closest, did_you_mean


class Named(Protocol):
    """Anything with a name: selection needs no more of a host (and so no import of model)."""

    @property
    def name(self) -> str: ...


H = TypeVar("H", bound=Named)

GLOB_CHARS = frozenset("*?[")
SYNTAX = "use all, host names, @group or a glob like pi-*, separated by commas"


def select_hosts(hosts: Sequence[H], groups: Mapping[str, Sequence[str]], expr: str) -> list[H]:
    """The hosts `expr` names, in inventory order, without duplicates."""
    if not expr.strip():
        raise SelectionError([f"empty host selection ({SYNTAX})"])
    names = [h.name for h in hosts]
    chosen: set[str] = set()
    errors: list[str] = []
    for term in (t.strip() for t in expr.split(",")):
        if not term:
            errors.append(f"empty item in host selection '{expr}' ({SYNTAX})")
            continue
        chosen.update(_match(term, names, groups, errors))
    if errors:
        raise SelectionError(errors)
    return [h for h in hosts if h.name in chosen]


def _match(
    term: str, names: list[str], groups: Mapping[str, Sequence[str]], errors: list[str]
) -> list[str]:
    """The host names one term stands for; an unmatched term adds to `errors`."""
    if term == "all":
        return names
    if term.startswith("@"):
        return _group(term[1:], groups, errors)
    if GLOB_CHARS.intersection(term):
        # fnmatchcase: the same answer on every OS, as a shell glob would give.
        found = [n for n in names if fnmatch.fnmatchcase(n, term)]
        if not found:
            errors.append(f"no host matches '{term}'")
        return found
    if term in names:
        return [term]
    # A group's name without its @ is the likeliest slip; say so before near-miss names.
    hint = f"did you mean '@{term}'?" if term in groups else did_you_mean(closest(term, names))
    hint = hint or known_names(names)
    errors.append(f"unknown host '{term}'" + (f" ({hint})" if hint else ""))
    return []


def known_names(names: Sequence[str], limit: int = 6) -> str:
    """When nothing is close: the names there are, so the operator sees the choice."""
    shown = ", ".join(names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"hosts: {shown}{more}"


def _group(name: str, groups: Mapping[str, Sequence[str]], errors: list[str]) -> list[str]:
    """The members of group `name`; an unknown group adds to `errors`."""
    if name in groups:
        return list(groups[name])
    if not groups:
        hint: str | None = "the inventory declares no groups"
    else:
        hint = did_you_mean(closest(name, groups), prefix="@") or "groups: " + ", ".join(
            f"@{g}" for g in groups
        )
    errors.append(f"unknown group '@{name}'" + (f" ({hint})" if hint else ""))
    return []
