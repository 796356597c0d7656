"""`fleet logs`: its options, the commands it sends, and the controller's recorded copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.errors import FleetError
from controller.logs import make_request, recorded_log, runner_args, tail_command, tail_lines
from controller.report.store import RunStore
from tests.unit.controller.fakes import make_host


def test_bad_options_are_usage_errors_before_any_host_is_contacted() -> None:
    """--tail takes a number or all; --since needs a service."""
    with pytest.raises(FleetError):
        make_request("web", "ten", None, False)
    with pytest.raises(FleetError):
        make_request(None, "5", "10m", False)
    assert make_request(None, "all", None, True).follow


def test_the_run_log_tail_is_one_quoted_command() -> None:
    """A path is one word however odd; `all` is the whole file."""
    req = make_request(None, "all", None, True)
    assert tail_command("/opt/x y/deploy.log", req) == "exec tail -f -n +1 -- '/opt/x y/deploy.log'"


def test_runner_args_carry_the_inventory_compose_command_and_options() -> None:
    """The runner gets the service, its repo and compose command; tail all sends no --tail."""
    args = runner_args(make_host("nas"), make_request("web", "all", "1h", False))
    assert args[:4] == ["logs", "--root", "/opt/homelab", "--service"]
    assert "--tail" not in args and args[-2:] == ["--since", "1h"]
    assert args[args.index("--compose") + 1] == '["docker", "compose"]'


def test_the_newest_recorded_copy_of_a_hosts_log_is_found(tmp_path: Path) -> None:
    """Runs are searched newest first; a run without that host's log is passed over."""
    store = RunStore(tmp_path)
    for run_id, hosts in (
        ("20261127T010000Z-aaaaaa", ["nas"]),
        ("20261127T020000Z-bbbbbb", ["pi"]),
    ):
        folder = store.run_dir(run_id)
        (folder / "hosts").mkdir(parents=True)
        (folder / "report.json").write_text("{}")
        for host in hosts:
            (folder / "hosts" / f"{host}.log").write_text("a\nb\nc\n")
    found = recorded_log(store, "nas")
    assert found is not None and found[0] == "20261127T010000Z-aaaaaa"
    assert tail_lines(found[1].read_bytes(), "2") == b"b\nc\n"
    assert recorded_log(store, "gone") is None
