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


@dataclass(frozen=True)
class EngineOptions:
    """Knobs of one fleet run (the CLI's options)."""

    concurrency: int = DEFAULT_CONCURRENCY
    handshakes: int = DEFAULT_HANDSHAKES
    reconnect_timeout: float = DEFAULT_RECONNECT_TIMEOUT
    resume: bool = False
    connect: ConnectOptions = field(default_factory=ConnectOptions)
    timeouts: dict[str, int] = field(default_factory=dict)
    pull: str | None = None  # --pull: every host's pull policy for this run, over the inventory
