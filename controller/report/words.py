"""Words for counts: one place that knows `1 host` from `2 hosts` (plain text, no Rich)."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 host`, `2 hosts`, `0 hosts`; `many` for a word whose plural is not word + s."""
    return f"{count} {word if count == 1 else many or word + 's'}"
