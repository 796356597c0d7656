"""Runs recorded under the XDG state dir and read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.errors import RunNotFound
from controller.report.store import RunStore, state_dir
from tests.unit.controller.test_view import sample_report


def test_state_dir_follows_xdg(tmp_path: Path) -> None:
    """$XDG_STATE_HOME/fleet, else ~/.local/state/fleet."""
    assert state_dir({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "fleet"
    assert state_dir({}).parts[-3:] == (".local", "state", "fleet")


def test_report_round_trips_and_latest_is_default(tmp_path: Path) -> None:
    """report.json is the --json object exactly; load() without an id is the latest run."""
    store = RunStore(tmp_path)
    report = sample_report()
    recorder = store.new_run(report.run_id)
    recorder.save_diagnostics("pi", "fleet diagnostics\n")
    log = recorder.host_log("pi")
    log.write(b"[STRUCT] {}\n")
    log.close()
    recorder.save(report)
    older = sample_report()
    older.run_id = "20250101T000000Z-000000"
    store.new_run(older.run_id).save(older)

    on_disk = json.loads((recorder.dir / "report.json").read_text())
    assert on_disk == report.to_json()
    loaded = store.load()
    assert loaded.run_id == report.run_id
    assert loaded.to_json() == report.to_json()
    assert loaded.hosts["pi"].diagnostics_text == "fleet diagnostics\n"
    assert loaded.hosts["mini"].problem is report.hosts["mini"].problem
    assert (recorder.dir / "hosts" / "pi.log").read_bytes() == b"[STRUCT] {}\n"


def test_unknown_run_is_an_error(tmp_path: Path) -> None:
    """A run id that was never recorded (or no run at all) raises RunNotFound."""
    with pytest.raises(RunNotFound):
        RunStore(tmp_path).load()
    with pytest.raises(RunNotFound):
        RunStore(tmp_path).load("../../etc")


def test_report_keeps_the_inventory_arg(tmp_path: Path) -> None:
    """The `-i` a run was given is read back, so `fleet report` names it in next commands."""
    store = RunStore(tmp_path)
    report = sample_report()
    report.command, report.inventory_arg = "resume", "lab.yml"
    store.new_run(report.run_id).save(report)
    loaded = store.load()
    assert loaded.inventory_arg == "lab.yml" and loaded.command == "resume"
