"""Apprise URLs made safe to show: tokens and passwords masked in anything fleet prints.

Apprise knows where each service keeps its secrets (`url(privacy=True)`); fleet keeps the
query keys the user wrote and masks the values that may be secrets. A URL Apprise cannot
read is masked wholesale: only its scheme and a host name stay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast
from urllib.parse import parse_qsl, unquote, urlsplit

from apprise import Apprise, NotifyBase

MASK = "****"
# Query keys whose values are shown as Apprise normalised them; every other value is masked.
# `+key` / `-key` / `:key` are custom headers and payload fields of json:// and friends.
SHOWN_KEYS = frozenset(
    {"cto", "rto", "priority", "format", "mode", "method", "overflow", "retry", "wait"}
)
# Shorter pieces cannot be masked in free text without garbling every line that holds them.
MIN_PIECE = 3


def mask_url(url: str) -> str:
    """`url` with every token, password and secret-looking query value masked."""
    try:
        return _masked(url)
    except ValueError:  # urlsplit refuses some netlocs (an unclosed `[` of IPv6)
        return f"{url.partition('://')[0] if '://' in url else 'url'}://{MASK}"


def _masked(url: str) -> str:
    plugin = Apprise.instantiate(url)
    masked = _generic(url) if plugin is None else _private(url, _privacy_url(plugin))
    if any(piece in masked for piece in _secret_pieces(url)):
        return _generic(url)  # a plugin's privacy form kept a secret: trust nothing of it
    return masked


def scrub(text: str, urls: Iterable[str]) -> str:
    """`text` with every piece of these URLs that may be a secret replaced by ****."""
    pieces = {p for url in urls for p in (url, *_pieces(url)) if len(p) >= MIN_PIECE}
    for piece in sorted(pieces, key=len, reverse=True):  # longest first: masked whole
        text = text.replace(piece, MASK)
    return text


def _privacy_url(plugin: NotifyBase) -> str:
    # Apprise's URLBase.url() carries no annotations; its contract is a str.
    url = cast("Callable[..., str]", plugin.url)
    return url(privacy=True)


def _private(url: str, privacy: str) -> str:
    """Apprise's privacy form, with only the query keys the user wrote."""
    shown = urlsplit(privacy)
    normalised = dict(parse_qsl(shown.query, keep_blank_values=True))
    query = [
        f"{key}={normalised[key] if key in SHOWN_KEYS and key in normalised else MASK}"
        for key, _ in _query(url)
    ]
    return _join(shown.scheme, shown.netloc + shown.path, query)


def _generic(url: str) -> str:
    """Scheme and host only: what any URL may show without knowing its service.

    A host without a dot is masked too: some services put a token where the host goes
    (`pover://USER@TOKEN`).
    """
    parts = urlsplit(url)
    user = f"{MASK}@" if "@" in parts.netloc else ""
    host = parts.hostname or ""
    host = host if "." in host else MASK
    path = f"/{MASK}" if parts.path.strip("/") else ""
    query = [f"{key}={MASK}" for key, _ in _query(url)]
    return _join(parts.scheme or "url", f"{user}{host}{path}", query)


def _join(scheme: str, rest: str, query: list[str]) -> str:
    return f"{scheme}://{rest}" + ("?" + "&".join(query) if query else "")


def _query(url: str) -> list[tuple[str, str]]:
    """The query's pairs as written: `+key` stays `+key` (parse_qsl would make it ` key`)."""
    pairs = (part.partition("=") for part in url.partition("?")[2].split("&") if part)
    return [(key, value) for key, _, value in pairs]


def _secret_pieces(url: str) -> list[str]:
    """The parts of a URL that are secrets wherever its service keeps them."""
    parts = urlsplit(url)
    values = [v for k, v in _query(url) if k not in SHOWN_KEYS]
    pieces = [parts.password or "", *values]
    return [p for p in {*pieces, *map(unquote, pieces)} if len(p) >= MIN_PIECE]


def _pieces(url: str) -> list[str]:
    """Every part of a URL that may be a secret for some service (users, hosts, paths).

    Split by hand: this must work on any text, even one urlsplit refuses.
    """
    netloc, _, path = url.partition("://")[2].partition("?")[0].partition("/")
    userinfo, _, host = netloc.rpartition("@")
    segments = [s for s in path.split("/") if s]
    pieces = [*userinfo.split(":"), host, *segments, *(v for _, v in _query(url))]
    return [*pieces, *map(unquote, pieces)]
