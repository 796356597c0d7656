"""Pushed revisions (source: push; remote/source.py makes them): where they live, and
which one R/repo points at."""

from __future__ import annotations

import os

from remote.protocol import FLEET_DIR

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

REVISIONS_DIR = FLEET_DIR + "/revisions"  # R/.fleet/revisions/<rev>/


def revisions_dir(root: str) -> str:
    return os.path.join(root, REVISIONS_DIR)


def current_revision(root: str, repo: str) -> Optional[str]:
    """The revision R/repo points at, or None (absent, a real folder, elsewhere)."""
    if not os.path.islink(repo):
        return None
    target = os.path.realpath(repo)
    if os.path.dirname(target) != os.path.realpath(revisions_dir(root)):
        return None
    return os.path.basename(target) if os.path.isdir(target) else None
