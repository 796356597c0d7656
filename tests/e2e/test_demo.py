"""`make demo`, and what a newcomer types after it: the lab's inventory works on its own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.docker import REPO

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo_dir(tmp_path: Path, busybox_image: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("the demo lab needs root")
    workdir = tmp_path / "lab"
    yield workdir
    subprocess.run([sys.executable, "-m", "tests.lab", "down", "--dir", str(workdir)], cwd=REPO)


def test_the_demo_deploys_and_its_inventory_plans_and_deploys_again(
    demo_dir: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "COLUMNS": "120"}
    demo = subprocess.run(
        [sys.executable, "-m", "tests.lab", "demo", "--dir", str(demo_dir)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout + demo.stderr
    inventory = demo_dir / "inventory.yml"
    assert f"fleet plan -i {inventory.resolve()}" in demo.stdout
    # No --repo: the push host (CHELSTY) finds services/ beside the lab's inventory.
    for command in (["plan"], ["deploy", "--hosts", "all"]):
        fleet = [sys.executable, "-m", "controller", *command, "-i", str(inventory)]
        result = subprocess.run(fleet, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
