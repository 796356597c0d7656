"""Sending for real, on loopback: an HTTP receiver for json://, an SMTP one for mailto://,
and a receiver that accepts but never answers. No lab needed; a few seconds in all."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from controller.notify.message import Message, build_message
from controller.notify.run import notify_run, targets
from controller.notify.send import send
from tests.unit.controller.test_notify import failed_run

TOKEN = "tk_S3CRETtoken"  # made up; the tests look for it in every output


@dataclass
class Inbox:
    """What a receiver got: one entry per message."""

    messages: list[Any] = field(default_factory=list)


@pytest.fixture
def json_receiver() -> Iterator[tuple[str, Inbox]]:
    """An HTTP server on 127.0.0.1 taking Apprise's json:// posts; yields its URL."""
    inbox = Inbox()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            inbox.messages.append((self.path, json.loads(self.rfile.read(length))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"json://127.0.0.1:{server.server_address[1]}/fleet?token={TOKEN}", inbox
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_receiver() -> Iterator[tuple[str, Inbox]]:
    """An SMTP server (aiosmtpd) on 127.0.0.1; yields a mailto:// URL for it."""
    inbox = Inbox()

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
            inbox.messages.append(envelope)
            return "250 OK"

    port = free_port()  # aiosmtpd's controller needs a port number it can connect back to
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield f"mailto://127.0.0.1:{port}?from=fleet@example.org&to=ops@example.org", inbox
    controller.stop()


@pytest.fixture
def silent_receiver() -> Iterator[int]:
    """A port whose kernel accepts connections that nobody ever reads or answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


def test_a_failed_run_sends_exactly_one_json_message(json_receiver: tuple[str, Inbox]) -> None:
    """One post, typed failure, with the run's title and every host."""
    url, inbox = json_receiver
    assert send([url], build_message(failed_run(), "deploy", mask=str)) == []
    assert len(inbox.messages) == 1
    path, body = inbox.messages[0]
    assert path.startswith("/fleet")
    assert (body["title"], body["type"]) == ("fleet deploy: 3 of 5 completed", "failure")
    assert body["message"].startswith("nas: failed at deploy, service web\n")
    assert "mini-2: unreachable" in body["message"]
    assert "completed: mini-1, pi-1, pi-2" in body["message"]


def test_a_clean_run_sends_one_success(json_receiver: tuple[str, Inbox]) -> None:
    """A run where every host completed is one message typed success."""
    url, inbox = json_receiver
    report = failed_run()
    report["hosts"] = {"pi-1": report["hosts"]["pi-1"]}
    assert send([url, url], build_message(report, "deploy", mask=str)) == []  # once per URL
    assert [(m[1]["title"], m[1]["type"]) for m in inbox.messages] == [
        ("fleet deploy: 1 of 1 completed", "success")
    ]


def test_mailto_reaches_an_smtp_server(smtp_receiver: tuple[str, Inbox]) -> None:
    """The mailto:// URL delivers one mail with the title as its subject."""
    url, inbox = smtp_receiver
    assert send([url], build_message(failed_run(), "deploy", mask=str)) == []
    assert len(inbox.messages) == 1
    mail = inbox.messages[0]
    assert mail.rcpt_tos == ["ops@example.org"]
    content = mail.content.decode()
    assert "Subject: fleet deploy: 3 of 5 completed" in content
    assert "continue: fleet resume nas" in content


def test_a_receiver_that_never_answers_costs_at_most_the_bound(silent_receiver: int) -> None:
    """Both URLs hang; send returns at the bound with one warning each, token masked."""
    urls = [
        f"json://127.0.0.1:{silent_receiver}/hook?token={TOKEN}",
        f"mailto://fleet:{TOKEN}@127.0.0.1:{silent_receiver}?from=fleet@example.org&to=ops@example.org",
    ]
    started = time.monotonic()
    warnings = send(urls, Message("t", "b", "failure"), bound_s=1.0)
    assert time.monotonic() - started < 1.5
    assert len(warnings) == 2
    assert all(w.endswith("no answer within 1 s") for w in warnings)
    assert all(TOKEN not in w and "S3CRET" not in w for w in warnings)


def test_a_refused_or_unknown_url_is_one_masked_warning_line() -> None:
    """A closed port and a scheme Apprise does not know: a line each, no token, no raise."""
    closed = free_port()
    urls = [f"json://127.0.0.1:{closed}/hook?token={TOKEN}", f"nosuch://{TOKEN}@host/x"]
    warnings = send(urls, Message("t", "b", "failure"))
    assert len(warnings) == 2
    assert warnings[0].startswith(f"notify: not sent to json://127.0.0.1:{closed}/hook?token=****")
    unknown = "nosuch://****@****/****: not a URL Apprise can use (see docs/notify.md)"
    assert warnings[1] == f"notify: not sent to {unknown}"
    assert all("\n" not in w and "S3CRET" not in w for w in warnings)


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_apprise_logs_reach_no_handler_of_the_program(capfd: pytest.CaptureFixture[str]) -> None:
    """Apprise's records (which may quote raw URLs) reach neither the output nor a root handler."""
    root = Recorder()
    logging.getLogger().addHandler(root)
    try:
        urls = [f"nosuch://{TOKEN}@host/x", f"mailto://me:{TOKEN}@127.0.0.1:{free_port()}?to=x"]
        send(urls, Message("t", "b", "failure"))
    finally:
        logging.getLogger().removeHandler(root)
    assert capfd.readouterr() == ("", "")
    assert [r for r in root.records if r.name.startswith("apprise")] == []


def test_targets_merge_inventory_and_flags() -> None:
    """Inventory URLs then --notify ones, each once; --no-notify silences them all."""
    assert targets(["a://x", "b://y"], ["b://y", "c://z"], False) == ["a://x", "b://y", "c://z"]
    assert targets(["a://x"], ["c://z"], True) == []


def test_notify_run_sends_a_check_only_when_a_host_needs_attention(
    json_receiver: tuple[str, Inbox],
) -> None:
    """A clean check sends nothing; a failed one sends one message."""
    url, inbox = json_receiver
    clean = {"hosts": {"nas": {"status": "ok", "checks": {}, "error": None}}}
    assert notify_run([url], clean, "check", mask=str) == []
    assert inbox.messages == []
    failed = {"hosts": {"nas": {"status": "unreachable", "checks": {}, "error": "refused"}}}
    assert notify_run([url], failed, "check", mask=str) == []
    assert [m[1]["title"] for m in inbox.messages] == ["fleet check: 0 of 1 passed"]


def test_notify_run_never_raises() -> None:
    """A mask that fails is one warning line, not an exception in the caller's run."""

    def broken(text: str) -> str:
        raise RuntimeError(f"cannot mask {TOKEN}")

    warnings = notify_run(["json://127.0.0.1:9/"], failed_run(), "deploy", mask=broken)
    assert warnings == ["notify: not sent: RuntimeError"]
