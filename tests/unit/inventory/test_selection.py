"""Host selection (--hosts): examples, errors that suggest, and properties that always hold."""

from __future__ import annotations

import fnmatch
import tempfile
from pathlib import Path
from types import MappingProxyType

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from inventory import Host, Inventory, SelectionError, load_inventory

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "homelab.yml"


@pytest.fixture(scope="module")
def inv() -> Inventory:
    """The example homelab: nas, mini-1, mini-2, pi-1, CHELSTY."""
    return load_inventory(EXAMPLE)


def names(hosts: list[Host]) -> list[str]:
    return [h.name for h in hosts]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("all", ["nas", "mini-1", "mini-2", "pi-1", "CHELSTY"]),
        ("CHELSTY", ["CHELSTY"]),
        ("pi-1,nas", ["nas", "pi-1"]),
        ("@minis", ["mini-1", "mini-2"]),
        ("mini-*", ["mini-1", "mini-2"]),
        ("nas,@minis,pi-*", ["nas", "mini-1", "mini-2", "pi-1"]),
        (" nas , nas,@storage ", ["nas"]),
        ("@edge,all", ["nas", "mini-1", "mini-2", "pi-1", "CHELSTY"]),
        ("mini-[2-9],?as", ["nas", "mini-2"]),
    ],
)
def test_selection_examples(inv: Inventory, expr: str, expected: list[str]) -> None:
    """Each --hosts form selects the right hosts, in inventory order, each once."""
    assert names(inv.select(expr)) == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("chelsy", "unknown host 'chelsy' (did you mean 'CHELSTY'?)"),
        ("mini1", "unknown host 'mini1' (did you mean 'mini-1' or 'mini-2'?)"),
        ("minis", "unknown host 'minis' (did you mean '@minis'?)"),
        ("zzz", "unknown host 'zzz' (hosts: nas, mini-1, mini-2, pi-1, CHELSTY)"),
        ("@stroage", "unknown group '@stroage' (did you mean '@storage'?)"),
        ("@x", "unknown group '@x' (groups: @storage, @minis, @edge, @lte)"),
        ("@", "unknown group '@' (groups: @storage, @minis, @edge, @lte)"),
        ("web-*", "no host matches 'web-*'"),
        ("?AS", "no host matches '?AS'"),  # globs are case-sensitive, as in a shell
        (
            "",
            "empty host selection (use all, host names, @group or a glob like pi-*, "
            "separated by commas)",
        ),
        (
            "nas,",
            "empty item in host selection 'nas,' (use all, host names, @group or a glob "
            "like pi-*, separated by commas)",
        ),
    ],
)
def test_selection_errors_name_the_term_and_suggest(
    inv: Inventory, expr: str, message: str
) -> None:
    """A term that matches nothing is a SelectionError naming it, with the closest names."""
    with pytest.raises(SelectionError) as caught:
        inv.select(expr)
    assert str(caught.value) == message


def test_every_bad_term_is_reported_at_once(inv: Inventory) -> None:
    """All unknown terms of one expression are named in one error, in the order given."""
    with pytest.raises(SelectionError) as caught:
        inv.select("nas,chelsy,@nope,x*")
    assert caught.value.problems == [
        "unknown host 'chelsy' (did you mean 'CHELSTY'?)",
        "unknown group '@nope' (groups: @storage, @minis, @edge, @lte)",
        "no host matches 'x*'",
    ]


# -- properties ------------------------------------------------------------------------

NAME = st.from_regex(r"[a-c][a-c0-9-]{0,3}", fullmatch=True).filter(lambda n: n != "all")
GROUP = st.sampled_from(["g1", "g2", "g3", "g4"])


@st.composite
def inventories(draw: st.DrawFn) -> Inventory:
    """A random inventory: unique host names, each in a few of four groups."""
    host_names = draw(st.lists(NAME, min_size=1, max_size=12, unique=True))
    hosts = tuple(
        Host(
            name=n,
            groups=tuple(draw(st.lists(GROUP, max_size=3, unique=True))),
            services=("svc",),
        )
        for n in host_names
    )
    groups = {g: tuple(h.name for h in hosts if g in h.groups) for g in ["g1", "g2", "g3", "g4"]}
    return Inventory(Path("hosts.yml"), hosts, MappingProxyType(groups))


def terms(inv: Inventory) -> st.SearchStrategy[str]:
    """Terms that match something in `inv`: all, a name, a group, or a glob."""
    globs = st.sampled_from(["a*", "b*", "c*", "*1*", "?", "*-*", "[ab]*", "*"])
    return st.one_of(
        st.just("all"),
        st.sampled_from([h.name for h in inv.hosts]),
        st.sampled_from([f"@{g}" for g in inv.groups]),
        globs.filter(lambda g: any(fnmatch.fnmatchcase(h.name, g) for h in inv.hosts)),
    )


@st.composite
def inventory_and_terms(draw: st.DrawFn) -> tuple[Inventory, list[str]]:
    inv = draw(inventories())
    return inv, draw(st.lists(terms(inv), min_size=1, max_size=6))


@given(inventory_and_terms())
def test_selection_keeps_inventory_order_without_duplicates(
    case: tuple[Inventory, list[str]],
) -> None:
    """Any selection is a subsequence of the inventory's hosts: ordered, each host once."""
    inv, ts = case
    selected = inv.select(",".join(ts))
    positions = [inv.hosts.index(h) for h in selected]
    assert positions == sorted(set(positions))


@given(inventory_and_terms())
def test_comma_list_is_the_union_of_its_terms(case: tuple[Inventory, list[str]]) -> None:
    """`a,b,c` selects exactly the hosts any one term selects, in inventory order."""
    inv, ts = case
    union = {h.name for t in ts for h in inv.select(t)}
    assert inv.select(",".join(ts)) == [h for h in inv.hosts if h.name in union]


@given(inventories())
def test_all_is_every_host(inv: Inventory) -> None:
    """`all` selects every host of the inventory, in order."""
    assert inv.select("all") == list(inv.hosts)


@given(inventories(), GROUP)
def test_group_selects_its_members(inv: Inventory, group: str) -> None:
    """`@g` selects exactly the hosts that list g, in order (an empty group selects none)."""
    assert inv.select(f"@{group}") == [h for h in inv.hosts if group in h.groups]


@given(inventories(), st.sampled_from(["a*", "*1", "?", "[bc]*", "*-*"]))
def test_glob_matches_like_fnmatch(inv: Inventory, pattern: str) -> None:
    """A glob selects the hosts fnmatch matches, case-sensitively; no match is an error."""
    expected = [h for h in inv.hosts if fnmatch.fnmatchcase(h.name, pattern)]
    if expected:
        assert inv.select(pattern) == expected
    else:
        with pytest.raises(SelectionError, match="no host matches"):
            inv.select(pattern)


@given(inventories(), NAME)
def test_unknown_name_is_an_error(inv: Inventory, name: str) -> None:
    """A plain name that is not a host is always a SelectionError that names it."""
    if name in {h.name for h in inv.hosts}:
        assert inv.select(name) == [h for h in inv.hosts if h.name == name]
    else:
        with pytest.raises(SelectionError, match=f"unknown host '{name}'"):
            inv.select(name)


@settings(max_examples=50)
@given(inventories())
def test_yaml_round_trip_gives_the_same_hosts_and_groups(inv: Inventory) -> None:
    """An inventory written as YAML loads back to the same hosts and group members."""
    data = {
        "groups": {g: {} for g in inv.groups},
        "hosts": {
            h.name: {"groups": list(h.groups), "services": list(h.services)} for h in inv.hosts
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hosts.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        loaded = load_inventory(path)
    assert loaded.hosts == inv.hosts
    assert dict(loaded.groups) == dict(inv.groups)
