"""The fast (libyaml) parse gives the same node tree, lines included, as PyYAML's own."""

from __future__ import annotations

from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from inventory import yamltree

EXAMPLE = Path(__file__).parents[3] / "examples" / "homelab.yml"


def shape(node: Node) -> object:
    """A node tree as plain data: tag, start line and column, and the value or children."""
    where = (node.tag, node.start_mark.line, node.start_mark.column)
    if isinstance(node, MappingNode):
        return (where, [(shape(k), shape(v)) for k, v in node.value])
    if isinstance(node, SequenceNode):
        return (where, [shape(item) for item in node.value])
    return (where, node.value)


def test_libyaml_and_pyyaml_agree_on_the_example_inventory() -> None:
    assert yamltree.FAST_LOADER is yaml.CSafeLoader
    text = EXAMPLE.read_text()
    report = yamltree.Report(str(EXAMPLE))
    fast = yamltree.compose(text, report)
    assert fast is not None and not report.problems
    assert shape(fast) == shape(yaml.compose(text, Loader=yaml.SafeLoader))
