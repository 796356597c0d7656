"""The two calls a command makes: which URLs to notify, and notifying them at its end.

Cheap to import: Apprise (about 0.1 s) is loaded only when there is something to send.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from controller.notify.message import Mask, build_message, needs_sending

BOUND_S = 10.0  # every URL of one run together, from the first send to the last answer


def targets(inventory: Iterable[str], added: Iterable[str], silenced: bool) -> list[str]:
    """The inventory's `notify:` URLs then `--notify` ones, each once; none with --no-notify."""
    return [] if silenced else list(dict.fromkeys([*inventory, *added]))


def notify_run(
    urls: Iterable[str],
    report: Mapping[str, Any],
    command: str,
    *,
    mask: Mask,
    continue_with: Mapping[str, str] | None = None,
    bound_s: float = BOUND_S,
) -> list[str]:
    """Send the run's one message, if it needs one; the warning lines to print and record.

    Never raises and never waits past `bound_s`; the caller's exit code stays its own.
    """
    urls = list(urls)
    if not urls or not needs_sending(report, command):
        return []
    try:
        message = build_message(report, command, mask=mask, continue_with=continue_with)
        from controller.notify.send import send  # Apprise only when there is a message

        return send(urls, message, bound_s=bound_s)
    except Exception as exc:  # a notification must never end the run it reports on
        return [f"notify: not sent: {type(exc).__name__}"]  # its text might quote a URL
