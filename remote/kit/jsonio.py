"""JSON for the runner, on CPython's C accelerator (_json) without the json package.

Importing json compiles its regular expressions, which imports re and enum: a third of
the runner's start-up, paid on every host of a fleet at once. _json (part of every
CPython since 2.6) scans and quotes JSON by itself; where it is missing, this falls back
to the json package. Values are what the runner writes: dicts with str keys, lists,
tuples, str, int, float, bool and None.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

WHITESPACE = " \t\n\r"
_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _ScanOptions(object):
    """The decoder settings _json's scanner reads (json.JSONDecoder's defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


try:
    from _json import encode_basestring_ascii, make_scanner

    HAVE_C = True
except ImportError:  # not CPython: the json package does it all
    HAVE_C = False

_scans: List[Callable[[str, int], Tuple[Any, int]]] = []  # the scanner, once made


def loads(text: str) -> Any:
    """The value of a JSON document; ValueError if it is not one."""
    if not HAVE_C:
        import json

        return json.loads(text)
    if not _scans:
        _scans.append(make_scanner(_ScanOptions()))  # type: ignore[arg-type]  # duck-typed
    start = len(text) - len(text.lstrip(WHITESPACE))
    try:
        value, end = _scans[0](text, start)
    except StopIteration as exc:
        raise ValueError("Expecting value: char %d" % exc.value) from None
    if text[end:].strip(WHITESPACE):
        raise ValueError("Extra data: char %d" % end)
    return value


def loads_object(data: Optional[bytes]) -> Optional[Dict[str, Any]]:
    """The JSON object in data (a state file, a [STRUCT] line); None when there is none,
    it is no object, or it is torn (a writer that died mid-write)."""
    try:
        value = loads(data.decode("utf-8")) if data else None
    except ValueError:  # UnicodeDecodeError is one too
        return None
    return value if isinstance(value, dict) else None


def read_object(path: str) -> Optional[Dict[str, Any]]:
    """The JSON object in file `path`; None as loads_object says, or when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return loads_object(handle.read())
    except OSError:
        return None


def dumps(value: Any, indent: Optional[int] = None) -> str:
    """Compact JSON (no spaces), or with indent: one item per line, as json.dumps."""
    if not HAVE_C:
        import json

        separators = (",", ": ") if indent is not None else (",", ":")
        return json.dumps(value, indent=indent, separators=separators)
    out: List[str] = []
    _encode(value, out, indent, 0)
    return "".join(out)


def _encode(value: Any, out: List[str], indent: Optional[int], level: int) -> None:
    if value is None:
        out.append("null")
    elif value is True or value is False:
        out.append("true" if value else "false")
    elif isinstance(value, str):
        out.append(encode_basestring_ascii(value))
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, dict):
        items = [(encode_basestring_ascii(_key(k)) + ":", v) for k, v in value.items()]
        _container("{", "}", items, out, indent, level)
    elif isinstance(value, (list, tuple)):
        _container("[", "]", [("", v) for v in value], out, indent, level)
    else:
        raise TypeError("%s is not JSON serializable" % type(value).__name__)


def _container(
    opening: str,
    closing: str,
    items: List[Tuple[str, Any]],
    out: List[str],
    indent: Optional[int],
    level: int,
) -> None:
    if not items:
        out.append(opening + closing)
        return
    inner = "" if indent is None else "\n" + " " * (indent * (level + 1))
    after_key = "" if indent is None else " "
    out.append(opening)
    for index, (key, item) in enumerate(items):
        out.append(("," if index else "") + inner + key + (after_key if key else ""))
        _encode(item, out, indent, level + 1)
    out.append(("" if indent is None else "\n" + " " * (indent * level)) + closing)


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError("keys must be str, not %s" % type(key).__name__)
    return key


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)
