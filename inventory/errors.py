"""The inventory's errors: every problem names its file, line and key."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an inventory file, where it is and what to do about it."""

    file: str
    line: int  # 1-based; 0 when the file as a whole could not be read
    key: str  # dotted path of the key, e.g. "hosts.nas.port"
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        if self.line == 0:  # the file as a whole: no line to jump to
            where = "" if self.file in self.message else f"{self.file}: "
            text = f"fleet: {where}{self.message}"
            return f"{text} ({self.hint})" if self.hint else text
        text = f"{self.file}:{self.line}: {self.key}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class InventoryError(Exception):
    """The inventory is invalid; `problems` holds every problem found, in line order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SelectionError(Exception):
    """A --hosts expression named hosts, groups or patterns the inventory does not have."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: list[str] = list(problems)
        super().__init__("; ".join(self.problems))
