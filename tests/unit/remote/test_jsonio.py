"""remote.jsonio writes and reads what the json package does, without importing it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remote.kit import jsonio
from remote.protocol import SERVICE_NAME_PATTERN
from remote.run.job import is_service_name
from tests.unit.remote.conftest import REPO

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(VALUES)
def test_dumps_is_json_dumps_and_loads_reads_it_back(value: Any) -> None:
    for indent, separators in ((None, (",", ":")), (2, (",", ": "))):
        text = jsonio.dumps(value, indent)
        assert text == json.dumps(value, indent=indent, separators=separators)
        assert json.dumps(jsonio.loads(text)) == json.dumps(json.loads(text))


@pytest.mark.parametrize("text", ["", " ", "{", "[1,]", '{"a":}', "1 2", "nul", '"\\x"'])
def test_loads_refuses_what_json_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        jsonio.loads(text)


@given(st.text(alphabet="aZ09._- é/\n", max_size=6))
def test_service_names_are_checked_as_the_pattern_says(name: str) -> None:
    assert is_service_name(name) == bool(re.fullmatch(SERVICE_NAME_PATTERN, name))


def test_the_runner_starts_without_the_heavy_modules() -> None:
    """Every module a run or start loads, loaded in a bare interpreter: none of these
    (each costs every host of a fleet start-up time) comes along."""
    heavy = ["argparse", "collections", "datetime", "enum", "json", "re", "signal", "subprocess"]
    heavy += ["typing"]
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "import remote.cli, remote.run.driver, remote.run.detach, remote.run.follow\n"
        "import remote.status\n"
        f"print(sorted(set({heavy!r}) & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
