"""Every broken inventory in tests/data/inventories/ fails with exactly the problems it expects.

Each file starts with a one-line description and one `# expect: LINE: key: message (hint)`
comment per problem, in the order fleet reports them (line order). The file name is not
part of the expectation: the test checks it separately on every problem.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from inventory import InventoryError, load_inventory

DATA = Path(__file__).resolve().parents[2] / "data" / "inventories"
CASES = sorted(DATA.glob("*.yml"))
EXPECT = "# expect: "


def expectations(path: Path) -> list[str]:
    """The `# expect:` lines of a case file, without their prefix."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line[len(EXPECT) :] for line in lines if line.startswith(EXPECT)]


def test_there_are_enough_cases() -> None:
    """The data-driven suite covers at least twenty broken inventories, each with expectations."""
    assert len(CASES) >= 20
    assert all(expectations(case) for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_broken_inventory_reports_its_problems(case: Path) -> None:
    """Loading the file raises InventoryError listing exactly the expected problems, by line."""
    with pytest.raises(InventoryError) as caught:
        load_inventory(case)
    problems = caught.value.problems
    got = [str(p).removeprefix(f"{case}:").lstrip() for p in problems]
    assert got == expectations(case)
    assert all(p.file == str(case) for p in problems)
    assert str(caught.value).splitlines() == [str(p) for p in problems]
