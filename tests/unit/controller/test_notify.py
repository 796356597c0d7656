"""The notification's text (pure) and the masking of Apprise URLs for any output."""

from __future__ import annotations

from typing import Any

import pytest

from controller.notify.message import build_message, needs_sending
from controller.notify.urls import mask_url, scrub


def keep(text: str) -> str:
    return text


def failed_run() -> dict[str, Any]:
    """A deploy's --json report: one host failed in deploy, one unreachable, three fine."""
    done = {"status": "completed", "last_stage": "complete", "error": None}
    return {
        "run_id": "20260101-0300-ab12",
        "status": "failed",
        "hosts": {
            "nas": {
                "status": "failed",
                "last_stage": "deploy",
                "failed_stage": "deploy",
                "last_service": "db",
                "services": {"db": "completed", "web": "failed", "files": "pending"},
                "error": "web: compose up failed (exit 1)\nError response from daemon: ...",
            },
            "mini-1": done,
            "mini-2": {
                "status": "unreachable",
                "last_stage": None,
                "failed_stage": None,
                "last_service": None,
                "error": "connection refused",
                "attempts": 4,
            },
            "pi-1": done,
            "pi-2": done,
        },
    }


def test_a_failed_run_lists_the_open_hosts_first_then_the_completed() -> None:
    """Title counts completed hosts; each open host has its place, error and next command."""
    message = build_message(failed_run(), "deploy", mask=keep)
    assert message.title == "fleet deploy: 3 of 5 completed"
    assert message.type == "failure"
    assert message.body.splitlines() == [
        "nas: failed at deploy, service web",
        "  error: web: compose up failed (exit 1)",
        "  continue: fleet resume nas",
        "mini-2: unreachable (after 4 attempts)",
        "  error: connection refused",
        "  continue: fleet resume mini-2",
        "completed: mini-1, pi-1, pi-2",
        "run 20260101-0300-ab12",
    ]


def test_a_clean_run_is_a_success_in_two_lines() -> None:
    """Every host completed: one line of hosts and the run id."""
    report = failed_run()
    report["hosts"] = {"pi-1": report["hosts"]["pi-1"], "pi-2": report["hosts"]["pi-2"]}
    message = build_message(report, "resume", mask=keep)
    assert (message.title, message.type) == ("fleet resume: 2 of 2 completed", "success")
    assert message.body == "completed: pi-1, pi-2\nrun 20260101-0300-ab12"


def test_the_callers_next_commands_win() -> None:
    """`continue_with` carries the report's own hint (e.g. a host key to verify first)."""
    hint = "first contact: fleet deploy --hosts mini-2 --accept-new"
    message = build_message(failed_run(), "deploy", mask=keep, continue_with={"mini-2": hint})
    assert f"  continue: {hint}" in message.body.splitlines()
    assert "  continue: fleet resume nas" in message.body.splitlines()


def test_every_text_passes_through_the_mask() -> None:
    """The caller's masking function sees the title and the whole body."""
    report = failed_run()
    report["hosts"]["nas"]["error"] = "web: login failed for password hunter22"
    message = build_message(report, "deploy", mask=lambda s: s.replace("hunter22", "****"))
    assert "hunter22" not in message.title + message.body
    assert "password ****" in message.body


def test_an_error_is_one_short_line() -> None:
    """A long error is cut: a phone shows a few lines, the report has the rest."""
    report = failed_run()
    report["hosts"]["nas"]["error"] = "\n  x " + "y" * 500
    line = next(
        x for x in build_message(report, "deploy", mask=keep).body.splitlines() if "x y" in x
    )
    assert len(line) <= len("  error: ") + 200 and line.endswith("…")


def test_only_the_report_fields_are_used() -> None:
    """Keys the message does not know (log paths, diagnostics) never reach it."""
    report = failed_run()
    report["hosts"]["nas"]["diagnostics"] = "/opt/homelab/state/diag-SECRET.txt"
    report["secret"] = "SECRET"
    assert "SECRET" not in build_message(report, "deploy", mask=keep).body


def test_check_and_outdated_notify_only_when_a_host_needs_attention() -> None:
    """A run always reports its end; check and outdated only when something is wrong."""
    ok_check = {"hosts": {"nas": {"status": "ok", "checks": {}, "error": None}}}
    current = {"hosts": {"nas": {"status": "checked", "images": [{"state": "current"}]}}}
    assert needs_sending({"hosts": {}}, "deploy")
    assert not needs_sending(ok_check, "check")
    assert not needs_sending(current, "outdated")
    current["hosts"]["nas"]["images"].append({"state": "update"})
    assert needs_sending(current, "outdated")


def test_a_failed_check_says_what_failed_and_its_fix() -> None:
    """check: the failed items are the error, the first item's fix is the next step."""
    report = {
        "hosts": {
            "nas": {
                "status": "failed",
                "error": None,
                "checks": {
                    "ssh": {"ok": True, "detail": "reachable", "fix": None},
                    "docker": {"ok": False, "detail": "permission denied", "fix": "usermod -aG"},
                },
            },
            "pi": {"status": "ok", "checks": {}, "error": None},
        }
    }
    message = build_message(report, "check", mask=keep)
    assert message.title == "fleet check: 1 of 2 passed"
    assert message.body.splitlines() == [
        "nas: failed",
        "  error: docker: permission denied",
        "  continue: usermod -aG",
        "passed: pi",
    ]


def test_outdated_names_the_images_with_updates() -> None:
    """outdated: a host with an update lists its images; current hosts share one line."""
    image = {"service": "web", "image": "nginx:1.25", "state": "update"}
    report = {
        "hosts": {
            "nas": {"status": "checked", "images": [image], "error": None},
            "pi": {"status": "checked", "images": [], "error": None},
        }
    }
    message = build_message(report, "outdated", mask=keep)
    assert (message.title, message.type) == ("fleet outdated: 1 of 2 current", "failure")
    assert "  error: web nginx:1.25 (update)" in message.body.splitlines()
    assert "  continue: fleet outdated --hosts nas" in message.body.splitlines()


@pytest.mark.parametrize(
    ("url", "shown", "secret"),
    [
        ("ntfys://tk_S3CRETtoken@ntfy.sh/homelab", "ntfys://t...n@ntfy.sh/homelab", "S3CRET"),
        (
            "ntfys://ntfy.sh/homelab?token=tk_S3CRET",
            "ntfys://t...T@ntfy.sh/homelab?token=****",
            "S3CRET",
        ),
        ("gotify://gotify.lan/AbS3CRETz", "gotify://gotify.lan/A...z/", "S3CRET"),
        ("discord://123456/S3CRETwebhook", "discord://1...6/S...k/", "S3CRET"),
        ("mailto://me:S3CRET@mail.example.org", "mailto://me:****@mail.example.org/", "S3CRET"),
        (
            "json://127.0.0.1:8080/hook?+X-Token=S3CRET&cto=2",
            "json://127.0.0.1:8080/hook?+X-Token=****&cto=2.0",
            "S3CRET",
        ),
        ("nope://user:S3CRET@S3CRETHOST/path", "nope://****@****/****", "S3CRET"),
        ("json://[::1/S3CRET", "json://****", "S3CRET"),
    ],
)
def test_urls_are_shown_with_their_secrets_masked(url: str, shown: str, secret: str) -> None:
    """Apprise's privacy form where it knows the service; scheme and host name otherwise."""
    assert mask_url(url) == shown
    assert secret not in mask_url(url)


def test_scrub_masks_every_piece_of_a_url_in_free_text() -> None:
    """A reason text that quotes a URL or its token loses them, longest piece first."""
    url = "gotify://gotify.lan/AbS3CRETz?token=tk_S3CRET2"
    text = f"could not reach {url}; token tk_S3CRET2 refused for AbS3CRETz"
    assert "S3CRET" not in scrub(text, [url])
