"""The few signal calls the runner makes, on _signal (the C half of `signal`).

`signal` wraps every number in an enum, and importing enum costs the runner a tenth of
its start-up on every host of a fleet at once. Where _signal is missing (not CPython),
the signal module does the same job.
"""

from __future__ import annotations

try:
    import _signal as _impl  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - not CPython
    import signal as _impl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SIGHUP: int = int(_impl.SIGHUP)
SIGINT: int = int(_impl.SIGINT)
SIGKILL: int = int(_impl.SIGKILL)
SIGPIPE: int = int(_impl.SIGPIPE)
SIGTERM: int = int(_impl.SIGTERM)
SIGXFSZ: int = int(_impl.SIGXFSZ)
SIG_IGN: Any = _impl.SIG_IGN

NAMES = {SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGKILL: "SIGKILL", SIGTERM: "SIGTERM"}


def name(signum: int) -> str:
    return NAMES.get(signum, "signal %d" % signum)


def getsignal(signum: int) -> Any:
    return _impl.getsignal(signum)


def signal(signum: int, handler: Any) -> Any:
    return _impl.signal(signum, handler)
