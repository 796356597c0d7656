"""The inventory's `notify:` list: Apprise URLs that hear of every run's end.

Checked for shape only (a list of `scheme://...` strings): which services exist is
Apprise's business, at send time. A problem never repeats the URL: it may hold a token.
"""

from __future__ import annotations

import re

from yaml.nodes import ScalarNode, SequenceNode

from inventory.fields import INVALID, Field, Invalid
from inventory.yamltree import is_null, kind, kind_of_value

URL_SHAPE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
EXAMPLE = "e.g. ntfys://ntfy.sh/TOPIC; see docs/notify.md"


def notify_urls(f: Field) -> tuple[str, ...] | Invalid:
    """A list of Apprise URLs; empty (or left out) means no notifications."""
    if is_null(f.node):
        return ()
    if not isinstance(f.node, SequenceNode):
        hint = "write a list: notify: [URL]" if isinstance(f.node, ScalarNode) else EXAMPLE
        return f.fail(f"must be a list of Apprise URLs, not {kind(f.node)}", hint)
    urls = [_url(Field(f.report, item, f.key, f.base), n) for n, item in enumerate(f.node.value, 1)]
    valid = [u for u in urls if isinstance(u, str)]
    return tuple(valid) if len(valid) == len(urls) else INVALID


def _url(f: Field, number: int) -> str | Invalid:
    """One URL of the list; `number` (1-based) names it without showing it."""
    if not isinstance(f.node, ScalarNode):
        return f.fail(f"URL {number} must be a string, not {kind(f.node)}")
    value = f.scalar("a URL")
    if value is INVALID:
        return INVALID
    if not isinstance(value, str):
        return f.fail(f"URL {number} must be a string, not {kind_of_value(value)}")
    if not URL_SHAPE.fullmatch(value.strip()):
        return f.fail(f"URL {number} is not a URL (SCHEME://...)", EXAMPLE)
    return value.strip()
