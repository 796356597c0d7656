"""Send one message to every notification URL, bounded in time, never raising.

Each URL gets its own daemon thread running Apprise's synchronous notify; the caller waits
for all of them until one shared deadline and no longer. A receiver that never answers
costs at most the bound: its thread is left behind (a daemon: it never holds the process
open) and Apprise's own socket timeouts end it soon after.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from apprise import Apprise, AppriseAsset, NotifyFormat, NotifyType

from controller.notify.message import Message
from controller.notify.run import BOUND_S
from controller.notify.urls import mask_url, scrub

# Apprise's per-request socket timeouts (its URL's cto= and rto=), capped so that one
# request fits in the bound (e-mail's own default connect timeout is 15 s).
CONNECT_S = 4.0
READ_S = 4.0
APPRISE_LOG = logging.getLogger("apprise")
# Apprise logs raw URLs (tokens and all, e.g. "Unparseable URL ..."): its records must
# never reach a handler of the program's own. The warnings fleet shows are built here.
APPRISE_LOG.propagate = False


class UnusableURL(Exception):
    """Apprise knows no service by this URL's scheme, or the URL lacks what it needs."""


@dataclass
class _Delivery:
    """One URL's send, filled in by its thread."""

    url: str
    thread: threading.Thread | None = None
    sent: bool = False
    reason: str = "not sent"


def send(urls: Sequence[str], message: Message, *, bound_s: float = BOUND_S) -> list[str]:
    """Send `message` to every URL at once; one warning line per URL it did not reach.

    Never raises and never waits past `bound_s`. The lines name each URL masked
    (mask_url) and hold no secret of any URL.
    """
    deadline = time.monotonic() + bound_s
    deliveries = [_Delivery(url) for url in dict.fromkeys(urls)]
    for delivery in deliveries:
        delivery.thread = threading.Thread(
            target=_deliver, args=(delivery, message), name="fleet-notify", daemon=True
        )
        delivery.thread.start()
    for delivery in deliveries:
        assert delivery.thread is not None
        delivery.thread.join(max(0.0, deadline - time.monotonic()))
    return [_warning(d, urls, bound_s) for d in deliveries if not d.sent]


def _warning(delivery: _Delivery, urls: Sequence[str], bound_s: float) -> str:
    assert delivery.thread is not None
    if delivery.thread.is_alive():
        reason = f"no answer within {bound_s:g} s"
    else:
        reason = scrub(delivery.reason, urls)
    return f"notify: not sent to {mask_url(delivery.url)}: {reason}"


def _deliver(delivery: _Delivery, message: Message) -> None:
    """Runs in the delivery's thread: any failure becomes its reason, nothing escapes."""
    heard = _LastWarning(threading.get_ident())
    APPRISE_LOG.addHandler(heard)
    try:
        delivery.sent = _notify(delivery.url, message)
        delivery.reason = heard.message or "the service did not take it"
    except UnusableURL as exc:
        delivery.reason = str(exc)
    except Exception as exc:  # a notification must never end the run it reports on
        delivery.reason = f"{type(exc).__name__}: {exc}"
    finally:
        APPRISE_LOG.removeHandler(heard)


def _notify(url: str, message: Message) -> bool:
    """Apprise's plugin for `url` sends from this thread (not from an Apprise pool,
    whose workers the interpreter waits for at exit), its timeouts capped."""
    plugin = Apprise.instantiate(url, asset=AppriseAsset(async_mode=False))
    if plugin is None:
        raise UnusableURL("not a URL Apprise can use (see docs/notify.md)")
    plugin.socket_connect_timeout = min(plugin.socket_connect_timeout, CONNECT_S)
    plugin.socket_read_timeout = min(plugin.socket_read_timeout, READ_S)
    return plugin.notify(
        body=message.body,
        title=message.title,
        notify_type=NotifyType(message.type),
        body_format=NotifyFormat.TEXT,
    )


class _LastWarning(logging.Handler):
    """The last warning Apprise logged from one thread: why that URL's send failed."""

    def __init__(self, thread: int) -> None:
        super().__init__(logging.WARNING)
        self.thread = thread
        self.message = ""

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.message = record.getMessage().strip()
