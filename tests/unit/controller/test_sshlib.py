"""asyncssh's import asks no compiler (controller/transport/sshlib.py)."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from controller.transport import sshlib

RECORDER = '#!/bin/sh\necho "$0 $*" >> "{log}"\nexit 1\n'


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="find_library's gcc path is Linux's"
)
def test_importing_asyncssh_runs_no_compiler_or_linker(tmp_path: Path) -> None:
    log = tmp_path / "called"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("gcc", "cc", "ld"):
        script = bin_dir / tool
        script.write_text(RECORDER.format(log=log))
        script.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    probe = "import ctypes.util; ctypes.util.find_library('fleet-no-such-lib')"

    # The recorder is what find_library runs for a library the loader's cache lacks ...
    subprocess.run([sys.executable, "-c", probe], env=env, check=True)
    assert log.exists()
    log.unlink()
    # ... and importing asyncssh through sshlib runs none of them.
    code = "import controller.transport.sshlib, ctypes.util; print(ctypes.util.find_library)"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    assert not log.exists(), log.read_text()
    assert "loader_lookup" not in done.stdout  # find_library is ctypes' own again


def test_a_library_in_ld_library_path_is_still_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("liboqs.so.5", "liboqs.so.6"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setenv("LD_LIBRARY_PATH", f"/nonexistent:{tmp_path}")
    find = sshlib.loader_lookup(lambda name: None)
    assert find("oqs") == str(tmp_path / "liboqs.so.6")
    assert find("fleet-no-such-lib") is None


def test_the_loader_cache_answers_first() -> None:
    find = sshlib.loader_lookup(lambda name: f"lib{name}.so.8" if name == "nettle" else None)
    assert find("nettle") == "libnettle.so.8"


def test_find_library_is_ctypes_own_after_the_import() -> None:
    assert ctypes.util.find_library.__module__ == "ctypes.util"
