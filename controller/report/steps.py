"""A host whose failed run the runner rolled back (on_failure: rollback) took two steps:
the failed run, then the rollback. The report, the notification and the live view say
them apart, from the host's --json entry (`rolled_back_to`, `failed_service`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def rollback_steps(host: Mapping[str, Any]) -> list[str]:
    """`1. verify failed for media`, `2. rolled back to release R`; [] for any other host."""
    if "rolled_back_to" not in host:
        return []
    service = host.get("failed_service")
    first = f"1. {host.get('failed_stage') or 'the run'} failed" + (
        f" for {service}" if service else ""
    )
    release = host.get("rolled_back_to")
    if release:
        second = f"2. rolled back to release {release}: it runs again"
    elif host.get("status") == "running":
        second = "2. rolling back to the last good release"
    else:
        second = "2. the rollback to the last good release failed too"
    return [first, second]
