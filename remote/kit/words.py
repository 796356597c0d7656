"""Words for counts on the host's side (`1 file`, `2 files`); the runner cannot import the
controller's twin (controller/report/words.py): it is stdlib-only and ships alone."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs the runner's start (tests/unit/remote/test_jsonio.py)
    from typing import Optional


def plural(count: int, word: str, many: Optional[str] = None) -> str:
    """`1 service`, `2 services`; `many` for a word whose plural is not word + s."""
    return "%d %s" % (count, word if count == 1 else many or word + "s")
