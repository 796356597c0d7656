"""The runner's `logs` command: compose's argv, and every line scrubbed before it leaves."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from remote.logs import logs_argv, parse_compose, stream_logs


def test_logs_argv_names_the_project_its_files_and_the_options(tmp_path: Path) -> None:
    """-p SVC with the definition and .env the deploy used, then the operator's options."""
    definition = tmp_path / "repo" / "services" / "web" / "compose.yaml"
    definition.parent.mkdir(parents=True)
    definition.write_text("services: {}\n")
    argv = logs_argv(["docker", "compose"], str(tmp_path), str(tmp_path / "repo"), "web",
                     "5", "10m", True)  # fmt: skip
    assert argv == ["docker", "compose", "-p", "web", "-f", str(definition), "logs",
                    "--no-color", "--follow", "--tail", "5", "--since", "10m"]  # fmt: skip
    assert parse_compose('["podman", "compose"]') == ["podman", "compose"]


def test_stream_logs_masks_the_services_env_values(tmp_path: Path) -> None:
    """A line holding a .env value reaches the reader as ***; the exit status is compose's."""
    env = tmp_path / "config" / "web" / ".env"
    env.parent.mkdir(parents=True)
    env.write_text("TOKEN=s3cret-value\n")
    fd, name = tempfile.mkstemp(dir=tmp_path)
    with os.fdopen(fd, "w+b") as out:
        code = stream_logs(["sh", "-c", "echo web-1 token=s3cret-value; echo done"],
                           str(tmp_path), "web", out)  # fmt: skip
    text = Path(name).read_text()
    assert code == 0
    assert text == "web-1 token=***\ndone\n"
