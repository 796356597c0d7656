"""YAML as nodes that remember their line, and a report that collects problems.

PyYAML's loaders build plain dicts: they forget line numbers and silently keep the
last of two equal keys. The inventory is read at the node level instead, so each
problem can name its line, and duplicate keys (two hosts called `nas`) are caught.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from inventory.errors import Problem

MERGE_TAG = "tag:yaml.org,2002:merge"  # the `<<: *anchor` key
# libyaml's parser where PyYAML has it: the same nodes and marks, about 15 times faster
# (30 ms against 2 for a 100-host inventory, on every command).
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def line_of(node: Node) -> int:
    """The 1-based line a node starts on."""
    return int(node.start_mark.line) + 1


@dataclass
class Report:
    """The problems found in one file so far."""

    file: str
    problems: list[Problem] = field(default_factory=list)

    def add(self, where: Node | int, key: str, message: str, hint: str | None = None) -> None:
        """Record a problem at a node's line (or at a line number)."""
        line = where if isinstance(where, int) else line_of(where)
        self.problems.append(Problem(self.file, line, key, message, hint))

    def sorted(self) -> list[Problem]:
        """Every distinct problem, in line order (a merged anchor may repeat one)."""
        unique = list(dict.fromkeys(self.problems))
        return sorted(unique, key=lambda p: p.line)


def compose(text: str, report: Report) -> Node | None:
    """Parse `text` into a node tree; a syntax error goes to `report` and gives None."""
    try:
        return yaml.compose(text, Loader=FAST_LOADER)
    except yaml.YAMLError as exc:
        first = exc  # parsed again below: PyYAML's own parser says more precisely what is wrong
    except RecursionError:
        first = None
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:  # PyYAML's composer recurses once per level of nesting
        _syntax(first, text, report, "nested too deeply")
    except yaml.YAMLError as exc:
        _syntax(exc, text, report)
    return None


def _syntax(
    exc: yaml.YAMLError | None, text: str, report: Report, fallback: str = "unreadable"
) -> None:
    """Report a parser's complaint at its line, with its context as the hint."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else 1
        hint = None
        if exc.context and exc.context_mark is not None:
            hint = f"{exc.context} on line {int(exc.context_mark.line) + 1}"
        report.add(line, "yaml", f"invalid YAML: {exc.problem or exc.context}", hint)
    elif exc is not None:  # e.g. a control character: no mark, only a position
        position = getattr(exc, "position", 0)
        report.add(text[:position].count("\n") + 1, "yaml", f"invalid YAML: {exc}")
    else:
        report.add(1, "yaml", f"invalid YAML: {fallback}", "use at most a few hundred levels")


def value_of(node: Node) -> object:
    """The Python value of a scalar, typed as YAML resolves it (int, bool, str, None...)."""
    return SafeConstructor().construct_object(node, deep=True)


def kind(node: Node) -> str:
    """What a node holds, in words, for messages ("a list", "an integer")."""
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, MappingNode):
        return "a mapping"
    try:
        return kind_of_value(value_of(node))
    except yaml.YAMLError:
        return f"a value tagged {node.tag}"


def kind_of_value(value: object) -> str:
    """What a Python value is, in words."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def is_null(node: Node) -> bool:
    """True for an empty value (`key:` with nothing after it, `~`, `null`)."""
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


@dataclass(frozen=True)
class Entry:
    """One `name: value` pair of a mapping, with both nodes for their lines."""

    name: str
    key: Node
    value: Node


def entries(node: MappingNode, report: Report, path: str, what: str = "key") -> list[Entry]:
    """The pairs of a mapping in file order; duplicate keys are reported, the first kept.

    Merge keys (`<<: *base`) are honoured: merged pairs come first and a key written
    out in the mapping itself overrides them (YAML's merge semantics), without being
    a duplicate.
    """
    return _Pairs(report, path, what).of(node)


@dataclass
class _Pairs:
    """Reads the pairs of one mapping and of everything it merges, each mapping once."""

    report: Report
    path: str
    what: str
    # An anchor may be merged many times over (`<<: [*a, *a]` on every level): each
    # mapping is read once, or a few lines could cost 2**n reads.
    done: dict[int, list[Entry]] = field(default_factory=dict)
    reading: set[int] = field(default_factory=set)  # merging one of these again is a loop

    def of(self, node: MappingNode) -> list[Entry]:
        if id(node) not in self.done:
            self.reading.add(id(node))
            self.done[id(node)] = self._read(node)
            self.reading.discard(id(node))
        return self.done[id(node)]

    def _read(self, node: MappingNode) -> list[Entry]:
        own: dict[str, Entry] = {}
        inherited: dict[str, Entry] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                for entry in self._merged(value_node):
                    inherited.setdefault(entry.name, entry)
            elif not isinstance(key_node, ScalarNode):
                self.report.add(
                    key_node, self.path, f"a key must be a plain name, not {kind(key_node)}"
                )
            elif key_node.value in own:
                first = own[key_node.value].key
                self.report.add(
                    key_node,
                    _join(self.path, key_node.value),
                    f"duplicate {self.what} '{key_node.value}'",
                    f"first defined on line {line_of(first)}",
                )
            else:
                own[key_node.value] = Entry(str(key_node.value), key_node, value_node)
        merged = [e for name, e in inherited.items() if name not in own]
        return merged + list(own.values())

    def _merged(self, node: Node) -> list[Entry]:
        """The pairs a `<<` key brings in: one mapping, or a list of them (earlier wins)."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        found: list[Entry] = []
        for source in sources:
            if not isinstance(source, MappingNode):
                self.report.add(source, self.path, f"'<<' must merge a mapping, not {kind(source)}")
            elif id(source) in self.reading:
                hint = "an anchor cannot be merged into the mapping it names, or into one inside it"
                self.report.add(source, self.path, "'<<' merges a mapping into itself", hint)
            else:
                found.extend(self.of(source))
        return found


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
