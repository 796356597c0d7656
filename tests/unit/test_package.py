"""The package as a user gets it: built into a wheel, installed into a fresh venv, and its
`fleet` command run from there. Any output on stderr fails, warnings first of all.

Offline: the wheel is built without build isolation (the dev extra brings setuptools), and
the fresh venv borrows the dependencies of the venv running the tests (a .pth line), after
checking that they satisfy the wheel's own requirements.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DIST = "homelab-fleet"
SOURCES = ("controller", "remote", "inventory", "pyproject.toml", "README.md", "LICENSE")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    env: dict[str, str]

    def fleet(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "fleet"), *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )


def _copy_sources(into: Path) -> None:
    """Build from a copy: an in-tree build would leave build/ and egg-info in the checkout."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=ignore)
        else:
            shutil.copy2(source, into / name)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("package")
    _copy_sources(work / "src")
    quiet = {**os.environ, "PYTHONWARNINGS": "ignore", "PIP_NO_INDEX": "1"}
    pip = [sys.executable, "-m", "pip"]
    build = [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(work)]
    subprocess.run([*build, str(work / "src")], check=True, env=quiet, capture_output=True)
    (wheel,) = work.glob("*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    target = ["--python", str(venv / "bin" / "python")]
    subprocess.run([*pip, *target, "install", "-q", "--no-deps", str(wheel)], check=True, env=quiet)
    fresh_site = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # After the fresh venv's own site-packages: its `controller` is the installed copy.
    (Path(fresh_site) / "borrowed-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    home = work / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "XDG_STATE_HOME": str(home / "state"),
        "COLUMNS": "100",
    }
    return Installed(wheel, venv, env)


def test_the_wheel_holds_the_code_a_license_and_no_example(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert installed.wheel.name.startswith("homelab_fleet-")
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "controller/cli/app.py" in names and "remote/run/driver.py" in names
    assert not [n for n in names if "/services/" in n or n.endswith(("hosts.yml", ".yaml"))]
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    text = zipfile.ZipFile(installed.wheel).read(metadata).decode()
    assert f"Name: {DIST}\n" in text and "License-Expression: MIT\n" in text
    assert "Classifier: Environment :: Console\n" in text
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    scripts = zipfile.ZipFile(installed.wheel).read(entry_points).decode()
    assert "fleet = controller.cli:main" in scripts


def test_the_borrowed_dependencies_satisfy_the_wheel(installed: Installed) -> None:
    script = (
        "from importlib.metadata import requires, version\n"
        "from packaging.requirements import Requirement\n"
        f"reqs = [Requirement(r) for r in requires({DIST!r})]\n"
        "bad = [str(r) for r in reqs if not r.marker and version(r.name) not in r.specifier]\n"
        "print(bad)\n"
    )
    out = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c", script],
        capture_output=True,
        text=True,
        env=installed.env,
        check=True,
    )
    assert out.stdout == "[]\n"


def test_installed_fleet_help_is_clean(installed: Installed) -> None:
    result = installed.fleet("--help", PYTHONWARNINGS="error")
    assert (result.returncode, result.stderr) == (0, "")
    assert "Usage: fleet" in result.stdout


def test_installed_fleet_version_is_the_distributions(installed: Installed) -> None:
    result = installed.fleet("--version")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "fleet 0.1.0\n"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_command_that_calls_hosts_prints_no_warning(installed: Installed, tmp_path: Path) -> None:
    """`fleet status` imports asyncssh and calls a loopback port nobody listens on."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        f"hosts:\n  box: {{address: 127.0.0.1, port: {_closed_port()}, services: [web]}}\n"
    )
    for warnings in ("default", "error"):
        result = installed.fleet("status", "-i", str(inventory), PYTHONWARNINGS=warnings)
        assert "Warning" not in result.stderr, result.stderr
        assert result.returncode == 1 and "unreachable" in result.stdout, result
