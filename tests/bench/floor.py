"""The floor fleet is measured against: the least an SSH fan-out can do for the same stages.

One asyncssh connection per host, all hosts at once, each stage one plain `sh -c` (no
runner, no state files beyond what the stages themselves write, no report). Run it as
`python -m tests.bench.floor INVENTORY deploy|status`; it reads the lab inventory's YAML
directly and prints nothing on success.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path
from typing import Any

import asyncssh
import yaml


def stage_commands(root: str, services: list[str], compose: list[str]) -> list[str]:
    """The staged workload as one shell command per stage, as fleet's runner does it."""
    state, logs, repo = f"{root}/state/deploy", f"{root}/logs/deploy", f"{root}/repo"
    q = shlex.quote
    compose_cmd = " ".join(q(part) for part in compose)

    def each(template: str) -> str:
        return " && ".join(
            template.format(svc=q(svc), d=q(f"{repo}/services/{svc}")) for svc in services
        )

    prepare = (
        f"mkdir -p {q(state)} {q(logs)} && echo prepare > {q(state)}/current_stage && "
        f"{{ test ! -d {q(repo)}/.git || git -C {q(repo)} pull --ff-only -q || true; }}"
    )
    validate = each(
        "test -f {d}/compose.yaml && "
        + compose_cmd
        + " -p {svc} -f {d}/compose.yaml config --quiet"
    )
    deploy = each(
        compose_cmd
        + " -p {svc} -f {d}/compose.yaml up -d --remove-orphans && "
        + f"echo {{svc}} > {q(state)}/last_service"
    )
    verify = each("sh {d}/healthcheck.sh")
    complete = f"touch {q(state)}/stage_complete_complete"
    return [prepare, validate, deploy, verify, complete]


async def run_host(host: dict[str, Any], defaults: dict[str, Any], mode: str) -> None:
    settings = {**defaults, **host}
    async with asyncssh.connect(
        settings["address"],
        port=settings.get("port", 22),
        username=settings.get("user"),
        client_keys=[settings["identity"]],
        known_hosts=settings["known_hosts"],
    ) as conn:
        root = settings.get("root", "/opt/homelab")
        if mode == "status":
            await conn.run(f"cat {shlex.quote(root)}/state/deploy/current_stage", check=False)
            return
        compose = shlex.split(settings.get("compose_command", "docker compose"))
        for command in stage_commands(root, list(settings["services"]), compose):
            await conn.run(command, check=True)


async def run(inventory: Path, mode: str) -> None:
    data = yaml.safe_load(inventory.read_text())
    defaults = data.get("defaults", {})
    await asyncio.gather(*(run_host(h, defaults, mode) for h in data["hosts"].values()))


if __name__ == "__main__":
    asyncio.run(run(Path(sys.argv[1]), sys.argv[2]))
