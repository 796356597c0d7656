"""What a finished run is told to besides the terminal, through the real CLI and a real lab:
one notification (Apprise to a receiver on loopback) and one HTML page (#28, #32)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from tests.e2e.support import Fleet
from tests.lab import Lab, busybox_compose
from tests.unit.controller.test_notify_send import (  # noqa: F401  (fixtures)
    TOKEN,
    Inbox,
    json_receiver,
    silent_receiver,
)

MakeLab = Callable[[Iterable[str]], Lab]

pytestmark = pytest.mark.e2e

BROKEN = busybox_compose(image="fleet-test/missing:none")  # pull_policy: never: no registry


def recorded_text(fleet: Fleet) -> str:
    """Every file the controller recorded, as one text (to look for a secret in)."""
    return "".join(
        p.read_text(errors="replace") for p in fleet.runs_dir().rglob("*") if p.is_file()
    )


def test_a_run_sends_one_message_and_writes_its_page(
    make_lab: MakeLab,
    unique: str,
    tmp_path: Path,
    json_receiver: tuple[str, Inbox],  # noqa: F811
) -> None:
    """One failed host: exactly one `failure` message naming both hosts and the next command,
    the page names both hosts, the exit code is the run's, the URL's token is never shown."""
    url, inbox = json_receiver
    lab = make_lab(["good", "bad"])
    lab.add_service("good", f"ok-{unique}")
    lab.add_service("bad", f"broken-{unique}", compose=BROKEN)
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))
    page = tmp_path / "run.html"

    result = fleet("deploy", "--hosts", "all", "--json", "--notify", url, "--html", str(page))
    assert result.code == 1, result.stderr
    assert len(inbox.messages) == 1, inbox.messages
    _, posted = inbox.messages[0]
    assert posted["type"] == "failure"
    assert posted["title"] == "fleet deploy: 1 of 2 completed"
    assert "bad" in posted["message"] and "good" in posted["message"]
    assert "fleet resume" in posted["message"]
    assert result.report["run_id"] in posted["message"]
    text = page.read_text()
    assert "good" in text and "bad" in text and "deploy" in text
    for shown in (result.stdout, result.stderr, recorded_text(fleet)):
        assert TOKEN not in shown

    clean = fleet("deploy", "--hosts", "good", "--json", "--notify", url)
    assert clean.code == 0, clean.stderr
    assert len(inbox.messages) == 2
    assert inbox.messages[1][1]["type"] == "success"
    assert inbox.messages[1][1]["title"] == "fleet deploy: 1 of 1 completed"


def test_a_receiver_that_never_answers_costs_the_bound_not_the_exit_code(
    make_lab: MakeLab,
    unique: str,
    tmp_path: Path,
    silent_receiver: int,  # noqa: F811
) -> None:
    """A notification that cannot be delivered is one warning line, printed and recorded;
    the run's exit code and report stay its own, and it costs at most about the bound."""
    lab = make_lab(["one"])
    lab.add_service("one", f"ok-{unique}")
    fleet = Fleet(tmp_path / "state", lab.write_inventory(tmp_path / "hosts.yml"))
    quiet = fleet("deploy", "--hosts", "all", "--json")
    assert quiet.code == 0, quiet.stderr

    url = f"json://127.0.0.1:{silent_receiver}/fleet?token={TOKEN}"
    told = fleet("deploy", "--hosts", "all", "--json", "--notify", url)
    assert told.code == 0, told.stderr
    assert told.report["status"] == "completed"
    assert told.elapsed < quiet.elapsed + 15, (told.elapsed, quiet.elapsed)
    warnings = [line for line in told.stderr.splitlines() if "warning: notify" in line]
    assert len(warnings) == 1, told.stderr
    assert fleet.meta(told.report["run_id"])["warnings"] == [warnings[0].split("warning: ")[1]]
    assert TOKEN not in told.stderr and TOKEN not in recorded_text(fleet)

    silenced = fleet("deploy", "--hosts", "all", "--json", "--notify", url, "--no-notify")
    assert silenced.code == 0 and "notify" not in silenced.stderr
