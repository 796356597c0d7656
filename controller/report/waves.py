"""Rolling deploys, the arithmetic: hosts in waves, in inventory order, stopped by a
failure budget (the driver that runs them is controller/fanout/rollout.py).

`--batch N|P%` sizes the waves, `--canary N` runs a first wave of N hosts alone, and
`--max-fail N|P%` is the budget: once more hosts than that did not complete (failed,
unreachable or disconnected), no new host starts; hosts already running finish, and the
rest are NOT_STARTED. Percentages are of the run's hosts, rounded up.

A disconnected host counts against the budget and never gives it back during the run:
its run may well complete on the host by itself, but the controller cannot know that
until it hears from the host again (`fleet resume`), and by then the rollout has gone on
or stopped on what it knew. A continuation (`fleet resume` of a stopped rollout) counts its
own budget over its own hosts.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from controller.options import Count, RolloutOptions
from controller.report.model import FleetReport, HostStatus, RolloutSummary

T = TypeVar("T")


# --- the arithmetic -------------------------------------------------------------------


def parse_count(text: str, *, option: str, zero: bool) -> Count:
    """`N` or `P%` (0 < P <= 100; N >= 1, or >= 0 when zero is allowed)."""
    raw = text.strip()
    percent = raw.endswith("%")
    digits = raw[:-1].strip() if percent else raw
    low = 0 if zero else 1
    if not digits.isdigit():
        raise ValueError(f"{option} takes N or P% (a whole number of hosts or percent): {text!r}")
    value = int(digits)
    if value < low or (percent and value > 100):
        bound = "0..100" if zero else "1..100"
        what = f"P% in {bound}" if percent else f"N >= {low}"
        raise ValueError(f"{option} takes {what}: {text!r}")
    return Count(value, percent)


def parse_batch(text: str) -> Count:
    """`--batch N|P%`: hosts per wave."""
    return parse_count(text, option="--batch", zero=False)


def parse_max_fail(text: str) -> Count:
    """`--max-fail N|P%`: hosts that may fail before the rollout stops (0 allowed)."""
    return parse_count(text, option="--max-fail", zero=True)


def hosts_of(count: Count, total: int) -> int:
    """A count applied to `total` hosts: a percentage rounds up."""
    if not count.percent:
        return count.value
    return -(-count.value * total // 100)


def plan_waves(items: Sequence[T], options: RolloutOptions) -> list[list[T]]:
    """The waves, in order: the canary alone, then batches of the rest; default one wave."""
    rest = list(items)
    waves: list[list[T]] = []
    if options.canary is not None and rest:
        waves.append(rest[: options.canary])
        rest = rest[options.canary :]
    size = max(1, hosts_of(options.batch, len(items))) if options.batch else len(rest)
    for start in range(0, len(rest), max(1, size)):
        waves.append(rest[start : start + size])
    return waves


def failure_budget(options: RolloutOptions, total: int) -> int | None:
    """How many hosts may not complete before no new one starts; None: no budget."""
    return None if options.max_fail is None else hosts_of(options.max_fail, total)


def wave_map(names: Sequence[str], options: RolloutOptions) -> dict[str, int] | None:
    """Each host's wave (1-based) in a rolling deploy; None without one."""
    if not options.active:
        return None
    return {name: i for i, wave in enumerate(plan_waves(names, options), 1) for name in wave}


def options_from(summary: RolloutSummary) -> RolloutOptions:
    """The settings a recorded rollout ran with."""
    return RolloutOptions(
        batch=parse_batch(summary.batch) if summary.batch else None,
        canary=summary.canary,
        max_fail=parse_max_fail(summary.max_fail) if summary.max_fail else None,
    )


def option_args(options: RolloutOptions) -> list[str]:
    """The command-line options that give these settings again."""
    args: list[str] = []
    if options.canary is not None:
        args += ["--canary", str(options.canary)]
    if options.batch is not None:
        args += ["--batch", str(options.batch)]
    if options.max_fail is not None:
        args += ["--max-fail", str(options.max_fail)]
    return args


# --- continuing a stopped rollout -----------------------------------------------------


@dataclass(frozen=True)
class Continuation:
    """How `fleet resume` runs its hosts: the waves' settings, and which hosts start
    fresh (they never started in their last run, so they have no markers of it)."""

    options: RolloutOptions
    fresh: frozenset[str]


def continuation(
    recent: Iterable[FleetReport], names: Sequence[str], given: RolloutOptions
) -> Continuation:
    """Read the newest recorded runs (newest first) of these hosts.

    Without rollout options, a resume reuses those of the newest run of its hosts when
    that was a rolling deploy. A host whose newest run left it not_started or
    unreachable (never reached), where it was to start fresh, starts a fresh run: `--resume` on its
    markers would find an older run's state, and a completed one would do nothing.
    """
    pending = set(names)
    fresh: set[str] = set()
    settings: RolloutOptions | None = None
    first = True
    for report in recent:
        seen = pending & report.hosts.keys()
        if not seen:
            continue
        pending -= seen
        summary = report.rollout
        if first and summary is not None:
            settings = options_from(summary)
        first = False
        fresh.update(n for n in seen if _never_reached(report, n))
        if not pending:
            break
    options = given if given.active else (settings or RolloutOptions())
    return Continuation(options=options, fresh=frozenset(fresh))


def _never_reached(report: FleetReport, name: str) -> bool:
    """Left before its run started (no try of it ever connected), in a run where it was
    to start fresh: resuming it starts that run (a host that was to resume keeps its
    markers for the next try)."""
    result = report.hosts[name]
    never = result.status in (HostStatus.NOT_STARTED, HostStatus.UNREACHABLE)
    return never and result.connections == 0 and name in _fresh_hosts(report)


def _fresh_hosts(report: FleetReport) -> set[str]:
    if report.command == "deploy":
        return set(report.hosts)
    return set(report.fresh) | set(report.rollout.fresh if report.rollout else [])


def continue_command(report: FleetReport, inventory_arg: str | None) -> str | None:
    """The one command that continues a stopped rollout: every host that did not complete."""
    if report.rollout is None or report.rollout.stopped is None:
        return None
    names = [n for n, r in report.hosts.items() if r.status is not HostStatus.COMPLETED]
    argv = ["fleet", "resume"]
    if inventory_arg:
        argv += ["-i", inventory_arg]
    argv += names + option_args(options_from(report.rollout))
    return " ".join(shlex.quote(a) for a in argv)
