"""The knobs of one fleet run, apart from the machinery that uses them.

The CLI builds these before anything is contacted; kept here, they cost it no asyncssh
import where nothing connects (`fleet report`, `--help`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_CONCURRENCY = 32
# Below OpenSSH's MaxStartups (10 unauthenticated connections per server).
DEFAULT_HANDSHAKES = 8
DEFAULT_RECONNECT_TIMEOUT = 60.0
DEFAULT_CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """How connections are made; the same for every host of a run."""

    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    # asyncssh leaves keepalives off; 5 s x 3 sees a silent drop within 15-20 s (its timer
    # restarts on any traffic, and it drops after the fourth unanswered interval).
    keepalive_interval: float = 5.0
    keepalive_count_max: int = 3
    accept_new: bool = False


@dataclass(frozen=True, slots=True)
class Count:
    """A number of hosts as given: `N`, or `P%` of the run's hosts (rounded up)."""

    value: int
    percent: bool = False

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)


@dataclass(frozen=True, slots=True)
class RolloutOptions:
    """`--batch`, `--canary`, `--max-fail`; all None: one wave, no budget (every host runs)."""

    batch: Count | None = None
    canary: int | None = None
    max_fail: Count | None = None

    @property
    def active(self) -> bool:
        """True when any of the three was given: the report then shows waves."""
        return self.batch is not None or self.canary is not None or self.max_fail is not None


@dataclass(frozen=True)
class EngineOptions:
    """Knobs of one fleet run (the CLI's options)."""

    concurrency: int = DEFAULT_CONCURRENCY
    handshakes: int = DEFAULT_HANDSHAKES
    reconnect_timeout: float = DEFAULT_RECONNECT_TIMEOUT
    resume: bool = False
    connect: ConnectOptions = field(default_factory=ConnectOptions)
    timeouts: dict[str, int] = field(default_factory=dict)
    rollback: bool = False  # a rollback run (fleet rollback): to rollback_to, or the default
    rollback_to: str | None = None
    push_repo: str | None = None  # source: push hosts: the local folder holding services/
    rollout: RolloutOptions = field(default_factory=RolloutOptions)
    # With resume: hosts that start a fresh run instead (a stopped rollout's not_started ones).
    fresh: frozenset[str] = frozenset()
    pull: str | None = None  # --pull: every host's pull policy for this run, over the inventory
    age_identity: str | None = None  # --age-identity: decrypts secrets/ (controller/secrets)
    on_failure: str | None = None  # --on-failure: stop | rollback, over the inventory's
    # --until-done: seconds since the run began during which an unreachable or disconnected
    # host is tried again (controller/fanout/untildone.py); None: one try.
    until_done: float | None = None


_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """`90s`, `30m`, `12h` in seconds (a whole positive number and its unit)."""
    raw = text.strip().lower()
    number, unit = raw[:-1], raw[-1:]
    if unit not in _UNITS or not number.isdigit() or int(number) < 1:
        raise ValueError(f"a duration is a whole number and s, m or h (90s, 30m, 12h): {text!r}")
    return float(int(number) * _UNITS[unit])
