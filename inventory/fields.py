"""One parser per inventory key: a YAML node in, a typed value (or INVALID) out.

A parser that finds a problem records it in the report and returns INVALID, so the
loader can go on and report every other problem of the file as well.
"""

from __future__ import annotations

import enum
import os
import posixpath
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from inventory.model import DEFAULT_COMPOSE_COMMAND, DEFAULT_ROOT
from inventory.names import (
    NAME_RULE,
    closest,
    did_you_mean,
    is_name,
    is_service_name,
    service_name_hint,
)
from inventory.yamltree import Report, is_null, kind, kind_of_value, value_of


class Invalid(enum.Enum):
    """Marks a value that had a problem (already reported)."""

    INVALID = "invalid"


INVALID = Invalid.INVALID
CONNECTIONS = ("ssh", "local")
PULL_POLICIES = ("missing", "always", "never")
SOURCES = ("git", "push")
BECOME = ("sudo",)
ON_FAILURE = ("stop", "rollback")


@dataclass(frozen=True)
class Field:
    """A key's value node and what is needed to report on it."""

    report: Report
    node: Node
    key: str  # dotted path, e.g. "hosts.nas.port"
    base: Path  # the inventory's folder: relative local paths are resolved from it

    def fail(self, message: str, hint: str | None = None, node: Node | None = None) -> Invalid:
        """Report a problem with this value and give INVALID."""
        self.report.add(node or self.node, self.key, message, hint)
        return INVALID

    def scalar(self, want: str) -> object:
        """The value of a scalar node; a list/mapping or an unknown tag is a problem."""
        if not isinstance(self.node, ScalarNode):
            return self.fail(f"must be {want}, not {kind(self.node)}")
        try:
            return value_of(self.node)
        except yaml.YAMLError as exc:
            return self.fail(f"cannot read this value: {getattr(exc, 'problem', exc)}")


Parser = Callable[[Field], object]


def text(f: Field, *, optional: bool = False, default: str | None = None) -> object:
    """A non-empty string; None when `optional` and the value is empty."""
    value = f.scalar("a string")
    if value is INVALID or (value is None and optional):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        hint = f"leave the key out to use {default}" if default else None
        return f.fail("must not be empty", hint)
    if not isinstance(value, str):
        return f.fail(f"must be a string, not {kind_of_value(value)}", f"quote it: '{value}'")
    return value


def address(f: Field) -> object:
    """The host's address (name or IP); defaults to the host's name when left out."""
    return text(f, default="the host's name")


def user(f: Field) -> object:
    """The login user; empty means: let ~/.ssh/config or the current user decide."""
    return text(f, optional=True)


def port(f: Field) -> object:
    """The SSH port, 1..65535; empty means: let ~/.ssh/config decide (22)."""
    value = f.scalar("an integer")
    if value is INVALID or value is None:
        return value
    # bool is an int subclass in Python; `port: yes` is a typo, not port 1.
    if isinstance(value, bool) or not isinstance(value, int):
        hint = (
            f"write {value} without quotes" if isinstance(value, str) and value.isdigit() else None
        )
        return f.fail(f"must be an integer, not {kind_of_value(value)}", hint)
    if not 1 <= value <= 65535:
        return f.fail(f"port {value} is out of range", "use 1..65535")
    return value


def local_path(f: Field) -> object:
    """A file on the machine fleet runs on: ~ expanded, relative to the inventory's folder."""
    value = text(f, optional=True)
    if not isinstance(value, str):
        return value
    return os.path.normpath(f.base / os.path.expanduser(value))


def identity(f: Field) -> object:
    """A private key file here: a missing one is found before any host is called."""
    value = local_path(f)
    if isinstance(value, str) and not os.path.isfile(value):
        reason = "is not a file" if os.path.exists(value) else "does not exist"
        hint = "leave identity out to let ssh (~/.ssh/config, ssh-agent) choose the key"
        return f.fail(f"the key file {value} {reason}", hint)
    return value


def host_path(f: Field) -> object:
    """An absolute path on the host (root, repo)."""
    value = text(f, default=DEFAULT_ROOT if f.key.endswith(".root") else "<root>/repo")
    if not isinstance(value, str):
        return value
    if not value.startswith("/"):
        hint = "~ is not expanded on the host; " if value.startswith("~") else ""
        return f.fail(f"'{value}' is not an absolute path", hint + "write it from /")
    return posixpath.normpath(value)


def connection(f: Field) -> object:
    """How fleet reaches the host: over ssh, or locally for the machine it runs on."""
    value = text(f, default="ssh")
    if not isinstance(value, str) or value in CONNECTIONS:
        return value
    hint = did_you_mean(closest(value, CONNECTIONS))
    return f.fail(f"must be 'ssh' or 'local', not '{value}'", hint)


def _choice(f: Field, choices: tuple[str, ...]) -> object:
    """One word of a fixed set; the first is the default."""
    value = text(f, default=choices[0])
    if not isinstance(value, str) or value in choices:
        return value
    allowed = ", ".join(f"'{c}'" for c in choices)
    hint = did_you_mean(closest(value, choices)) or f"one of {allowed}"
    return f.fail(f"must be one of {allowed}, not '{value}'", hint)


def pull(f: Field) -> object:
    """When prepare pulls a service's images: missing (default), always or never."""
    return _choice(f, PULL_POLICIES)


def source(f: Field) -> object:
    """Where a host's service definitions come from: git (its own checkout) or push."""
    return _choice(f, SOURCES)


def become(f: Field) -> object:
    """How the runner's docker and compose commands gain rights: `sudo`, or null (none)."""
    value = text(f, optional=True)
    if not isinstance(value, str) or value in BECOME:
        return value
    return f.fail(f"must be 'sudo' or null, not '{value}'", did_you_mean(closest(value, BECOME)))


def on_failure(f: Field) -> object:
    """What a failed validate, deploy or verify leads to: stop (default) or rollback."""
    return _choice(f, ON_FAILURE)


def compose_command(f: Field) -> object:
    """The compose command as argv: a string (split like a shell would) or a list."""
    if isinstance(f.node, SequenceNode):
        words = [text(Field(f.report, item, f.key, f.base)) for item in f.node.value]
        if INVALID in words:
            return INVALID
        return tuple(words) if words else f.fail("must not be empty", "e.g. docker compose")
    value = text(f, default=shlex.join(DEFAULT_COMPOSE_COMMAND))
    if not isinstance(value, str):
        return value
    try:
        return tuple(shlex.split(value))
    except ValueError as exc:
        return f.fail(f"cannot be split into words: {exc}", "check the quotes")


def name_list(f: Field, what: str) -> list[tuple[str, Node]] | Invalid:
    """A list of service or group names, with each item's node (for its line)."""
    if is_null(f.node):
        return []
    if not isinstance(f.node, SequenceNode):
        single = f.node.value if isinstance(f.node, ScalarNode) else None
        hint = f"write [{single}]" if single else None
        f.fail(f"must be a list of {what} names, not {kind(f.node)}", hint)
        return INVALID
    names = [_name(f, item, what) for item in f.node.value]
    if INVALID in names:
        return INVALID
    return [(str(name), item) for name, item in zip(names, f.node.value, strict=True)]


def _name(f: Field, item: Node, what: str) -> object:
    """One name of a list: a plain name; numbers are taken as written (`2048`)."""
    if isinstance(item, MappingNode | SequenceNode):
        return f.fail(f"a {what} name must be a string, not {kind(item)}", node=item)
    sub = Field(f.report, item, f.key, f.base)
    value = sub.scalar("a name")
    if value is INVALID:
        return value
    if value is None or value == "":
        return sub.fail(f"empty {what} name")
    if isinstance(value, bool) or not isinstance(value, str | int):
        return sub.fail(f"a {what} name must be a string, not {kind_of_value(value)}")
    name = str(item.value)
    if not is_name(name):
        return sub.fail(f"'{name}' is not a valid {what} name", NAME_RULE)
    if what == "service" and not is_service_name(name):
        return sub.fail(f"'{name}' is not a valid service name", service_name_hint(name))
    return name


# The keys that hold one setting each, with their parsers (lists are handled apart).
SETTINGS: dict[str, Parser] = {
    "user": user,
    "port": port,
    "identity": identity,
    "root": host_path,
    "repo": host_path,
    "known_hosts": local_path,
    "connection": connection,
    "compose_command": compose_command,
    "pull": pull,
    "source": source,
    "become": become,
    "on_failure": on_failure,
}
PARSERS: dict[str, Parser] = {"address": address, **SETTINGS}
