"""Rolling deploys: the wave arithmetic, and the driver over fake hosts."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from controller import fanout
from controller.options import Count, EngineOptions, RolloutOptions
from controller.report.events import Event
from controller.report.model import FleetReport, HostResult, HostStatus, RolloutSummary
from controller.report.problems import Problem
from controller.report.store import RunStore
from controller.report.view import LiveView, PlainView, render_report, report_table
from controller.report.waves import (
    continuation,
    continue_command,
    failure_budget,
    hosts_of,
    option_args,
    options_from,
    parse_batch,
    parse_max_fail,
    plan_waves,
    wave_map,
)
from controller.session.outcome import new_result
from controller.transport.connector import ConnectError
from tests.design import HOST_KEYS
from tests.unit.controller.fakes import RUNNER, FakeConnector, FakeFleet, FakeHost, make_host

RUN_ID = "20260101T000000Z-abcdef"


def rollout(
    batch: str | None = None, canary: int | None = None, max_fail: str | None = None
) -> RolloutOptions:
    return RolloutOptions(
        batch=parse_batch(batch) if batch else None,
        canary=canary,
        max_fail=parse_max_fail(max_fail) if max_fail is not None else None,
    )


def sizes(total: int, options: RolloutOptions) -> list[int]:
    return [len(w) for w in plan_waves(list(range(total)), options)]


# --- the arithmetic -------------------------------------------------------------------


def test_counts_parse_as_hosts_or_percent() -> None:
    """`N` is hosts, `P%` percent; surrounding blanks are fine."""
    assert parse_batch("2") == Count(2)
    assert parse_batch(" 25% ") == Count(25, percent=True)
    assert parse_max_fail("0") == Count(0) and parse_max_fail("0%") == Count(0, percent=True)
    assert parse_max_fail("100%") == Count(100, percent=True)
    assert str(Count(25, percent=True)) == "25%" and str(Count(3)) == "3"


@pytest.mark.parametrize("text", ["", "x", "-1", "1.5", "0", "0%", "101%", "%", "2 %x"])
def test_bad_batch_is_refused_with_what_is_allowed(text: str) -> None:
    """A batch of no hosts, a fraction or past 100% is a usage error naming --batch."""
    with pytest.raises(ValueError, match="--batch takes"):
        parse_batch(text)


@pytest.mark.parametrize("text", ["-1", "x", "101%", "1.5%"])
def test_bad_max_fail_is_refused(text: str) -> None:
    """The budget may be 0 but not negative, fractional or past 100%."""
    with pytest.raises(ValueError, match="--max-fail takes"):
        parse_max_fail(text)


@pytest.mark.parametrize(
    ("count", "total", "hosts"),
    [
        (Count(25, True), 6, 2),  # 1.5 rounds up
        (Count(1, True), 6, 1),  # 0.06 rounds up to one host
        (Count(50, True), 5, 3),
        (Count(100, True), 6, 6),
        (Count(0, True), 6, 0),
        (Count(34, True), 6, 3),  # 2.04 rounds up
        (Count(4), 6, 4),
    ],
)
def test_percentages_round_up(count: Count, total: int, hosts: int) -> None:
    """P% of the run's hosts, rounded up; N is N."""
    assert hosts_of(count, total) == hosts


def test_default_is_one_wave_and_no_budget() -> None:
    """No option: every host in one wave, nothing stops the run."""
    assert sizes(6, RolloutOptions()) == [6]
    assert failure_budget(RolloutOptions(), 6) is None
    assert wave_map(["a", "b"], RolloutOptions()) is None
    assert sizes(0, rollout(batch="2")) == []


@pytest.mark.parametrize(
    ("total", "options", "expected"),
    [
        (6, rollout(batch="2"), [2, 2, 2]),
        (6, rollout(batch="4"), [4, 2]),
        (6, rollout(batch="25%"), [2, 2, 2]),
        (6, rollout(batch="1%"), [1, 1, 1, 1, 1, 1]),
        (6, rollout(batch="100%"), [6]),
        (3, rollout(batch="10"), [3]),
        (6, rollout(canary=1, batch="2"), [1, 2, 2, 1]),
        (6, rollout(canary=1), [1, 5]),
        (6, rollout(canary=2, batch="50%"), [2, 3, 1]),  # percent of all hosts: 3
        (2, rollout(canary=5, batch="1"), [2]),
        (1, rollout(canary=1, batch="2"), [1]),
        (6, rollout(max_fail="1"), [6]),
    ],
)
def test_waves_go_in_inventory_order(
    total: int, options: RolloutOptions, expected: list[int]
) -> None:
    """The canary alone, then batches of the rest, in order, every host exactly once."""
    waves = plan_waves(list(range(total)), options)
    assert [len(w) for w in waves] == expected
    assert [i for w in waves for i in w] == list(range(total))


def test_budgets() -> None:
    """--max-fail N is N hosts, P% of the run's hosts rounded up; 0 and 100% allowed."""
    assert failure_budget(rollout(max_fail="0"), 6) == 0
    assert failure_budget(rollout(max_fail="2"), 6) == 2
    assert failure_budget(rollout(max_fail="10%"), 6) == 1
    assert failure_budget(rollout(max_fail="100%"), 6) == 6


def test_settings_round_trip_through_the_record_and_the_command_line() -> None:
    """What the report records gives the same settings, and the same options again."""
    options = rollout(batch="25%", canary=1, max_fail="0")
    summary = RolloutSummary(batch="25%", canary=1, max_fail="0", waves=3)
    assert options_from(summary) == options
    assert option_args(options) == ["--canary", "1", "--batch", "25%", "--max-fail", "0"]


# --- the driver -----------------------------------------------------------------------


def deploy(
    fakes: list[FakeHost], options: RolloutOptions, connectors: object = None, **opts: object
) -> FleetReport:
    engine_options = EngineOptions(rollout=options, **opts)  # type: ignore[arg-type]
    return asyncio.run(
        fanout.deploy(
            [f.host for f in fakes],
            engine_options,
            run_id=RUN_ID,
            runner=RUNNER,
            connectors=connectors or FakeFleet(fakes),  # type: ignore[arg-type]
        )
    )


def statuses(report: FleetReport) -> list[str]:
    return [r.status.value for r in report.hosts.values()]


def fleet(n: int, failing: tuple[int, ...] = ()) -> list[FakeHost]:
    return [
        FakeHost(make_host(f"h{i}"), fail_service="db" if i in failing else None)
        for i in range(1, n + 1)
    ]


def test_budget_spent_mid_wave_starts_no_further_host() -> None:
    """One wave, one host at a time, --max-fail 1: the second failure stops the rest."""
    fakes = fleet(5, failing=(1, 2))
    report = deploy(fakes, rollout(max_fail="1"), concurrency=1)
    assert statuses(report) == ["failed", "failed", "not_started", "not_started", "not_started"]
    for fake in fakes[2:]:
        assert fake.connects == 0 and fake.plans == []
        result = report.hosts[fake.host.name]
        assert result.error is not None and result.error.startswith("not started: ")
        assert "failure budget spent in wave 1 of 1" in result.error
        assert "2 hosts did not complete (h1, h2), more than --max-fail 1" in result.error
    assert report.rollout is not None and report.rollout.stopped is not None
    assert not report.completed


def test_hosts_already_running_finish_when_the_budget_is_spent() -> None:
    """h1 fails while h2 and h3 of its wave are running: they finish; wave 2 never starts."""
    fakes = fleet(4, failing=(1,))
    all_started, gate = asyncio.Event(), asyncio.Event()
    in_flight: list[str] = []

    class Gated(FakeConnector):
        async def connect(self) -> None:
            in_flight.append(self.fake.host.name)
            if len(in_flight) == 3:
                all_started.set()
            # h1 fails once the three run; h2 and h3 are still connecting then.
            await (all_started if self.fake.host.name == "h1" else gate).wait()
            self.fake.connect()

    def on_update(result: HostResult, event: Event | None) -> None:
        if result.name == "h1" and event is None and result.status is HostStatus.FAILED:
            gate.set()

    report = asyncio.run(
        fanout.deploy(
            [f.host for f in fakes],
            EngineOptions(rollout=rollout(batch="3", max_fail="0")),
            run_id=RUN_ID,
            runner=RUNNER,
            connectors=lambda host: Gated(next(f for f in fakes if f.host is host)),
            on_update=on_update,
        )
    )
    assert in_flight == ["h1", "h2", "h3"]
    assert statuses(report) == ["failed", "completed", "completed", "not_started"]
    assert [r.wave for r in report.hosts.values()] == [1, 1, 1, 2]
    assert fakes[3].connects == 0
    assert report.rollout is not None and report.rollout.stopped is not None
    assert "wave 1 of 2" in report.rollout.stopped


def test_failing_canary_stops_everything() -> None:
    """--canary 1 --batch 2 --max-fail 0: the canary fails, no other host is contacted."""
    fakes = fleet(5, failing=(1,))
    report = deploy(fakes, rollout(canary=1, batch="2", max_fail="0"))
    assert statuses(report) == ["failed"] + ["not_started"] * 4
    assert [r.wave for r in report.hosts.values()] == [1, 2, 2, 3, 3]
    assert all(f.connects == 0 for f in fakes[1:])
    assert report.rollout is not None
    assert report.rollout.to_json() == {
        "batch": "2",
        "canary": 1,
        "max_fail": "0",
        "waves": 3,
        "stopped": report.rollout.stopped,
    }
    assert "wave 1 of 3" in (report.rollout.stopped or "")


def test_budget_of_100_percent_never_stops() -> None:
    """--max-fail 100%: every host fails, every host still runs, wave after wave."""
    fakes = fleet(4, failing=(1, 2, 3, 4))
    report = deploy(fakes, rollout(batch="1", max_fail="100%"))
    assert statuses(report) == ["failed"] * 4
    assert report.rollout is not None and report.rollout.stopped is None


def test_budget_of_zero_with_every_host_completing() -> None:
    """--max-fail 0 is no obstacle while every host completes."""
    fakes = fleet(4)
    report = deploy(fakes, rollout(batch="2", max_fail="0"))
    assert report.completed and report.rollout is not None and report.rollout.stopped is None
    assert [r.wave for r in report.hosts.values()] == [1, 1, 2, 2]


def test_budget_spent_in_the_last_wave_stops_nothing() -> None:
    """Failures past the budget in the last wave leave no host unstarted: not `stopped`."""
    report = deploy(fleet(4, failing=(3, 4)), rollout(batch="2", max_fail="1"))
    assert statuses(report) == ["completed", "completed", "failed", "failed"]
    assert report.rollout is not None and report.rollout.stopped is None


def test_unreachable_and_disconnected_hosts_count_against_the_budget() -> None:
    """An unreachable and a disconnected host spend a budget of 1: the third never starts."""
    refused = ConnectError("connection refused", problem=Problem.CONN_REFUSED, transient=False)
    fakes = [
        FakeHost(make_host("h1"), connect_errors=[refused]),
        FakeHost(make_host("h2"), drop_after=700, stay_down=True),
        FakeHost(make_host("h3")),
    ]
    report = deploy(fakes, rollout(batch="1", max_fail="1"), reconnect_timeout=0.3)
    assert statuses(report) == ["unreachable", "disconnected", "not_started"]
    assert fakes[2].connects == 0


def test_without_rollout_options_the_json_is_exactly_design() -> None:
    """Default: no `wave`, no `rollout`; with options both appear beside the pinned keys."""
    plain = deploy(fleet(2), RolloutOptions()).to_json()
    assert set(plain) == {"run_id", "status", "hosts"}
    assert all(set(h) == HOST_KEYS for h in plain["hosts"].values())
    rolled = deploy(fleet(2), rollout(batch="1")).to_json()
    assert set(rolled) == {"run_id", "status", "hosts", "rollout"}
    assert all(set(h) == HOST_KEYS | {"wave"} for h in rolled["hosts"].values())
    assert [h["wave"] for h in rolled["hosts"].values()] == [1, 2]


def test_fresh_hosts_of_a_resume_start_without_resume() -> None:
    """On resume, hosts in `fresh` start a deploy run; the others resume from markers."""
    fakes = fleet(2)
    deploy(fakes, RolloutOptions(), resume=True, fresh=frozenset({"h2"}))
    assert fakes[0].resumed and fakes[0].plans[0]["kind"] == "resume"
    assert not fakes[1].resumed and fakes[1].plans[0]["kind"] == "deploy"


# --- continuing a stopped rollout -----------------------------------------------------


def result(name: str, status: HostStatus, wave: int | None = None) -> HostResult:
    r = new_result(make_host(name))
    r.status, r.wave = status, wave
    if status is not HostStatus.COMPLETED:
        r.error = "why"
    return r


def stopped_report(**extra: object) -> FleetReport:
    hosts = {
        "h1": result("h1", HostStatus.COMPLETED, 1),
        "h2": result("h2", HostStatus.FAILED, 2),
        "h3": result("h3", HostStatus.UNREACHABLE, 2),
        "h4": result("h4", HostStatus.NOT_STARTED, 3),
        "h5": result("h5", HostStatus.NOT_STARTED, 3),
    }
    summary = RolloutSummary(
        batch="2", canary=1, max_fail="1", waves=3, stopped="failure budget spent",
        fresh=["h1", "h2", "h3", "h4", "h5"],
    )  # fmt: skip
    return FleetReport(run_id=RUN_ID, hosts=hosts, rollout=summary, **extra)  # type: ignore[arg-type]


def test_continuation_reuses_settings_and_starts_never_started_hosts_fresh() -> None:
    """Resume of a stopped rollout: same waves and budget; not_started and unreachable
    hosts (which never started) run fresh, the failed one from its markers."""
    cont = continuation([stopped_report()], ["h2", "h3", "h4", "h5"], RolloutOptions())
    assert cont.options == rollout(batch="2", canary=1, max_fail="1")
    assert cont.fresh == {"h3", "h4", "h5"}


def test_a_continuation_that_stopped_again_keeps_each_hosts_way_to_start() -> None:
    """A host that was to resume from its markers and was left not_started again still
    resumes next time; one that was to start fresh still starts fresh."""
    report = stopped_report(command="resume")
    assert report.rollout is not None
    report.rollout.fresh = ["h4", "h5"]
    report.hosts["h2"].status = HostStatus.NOT_STARTED
    report.hosts["h3"].status = HostStatus.UNREACHABLE
    cont = continuation([report], ["h2", "h3", "h4", "h5"], RolloutOptions())
    assert cont.fresh == {"h4", "h5"}


def test_continuation_with_options_given_uses_those() -> None:
    """Options on the resume win over the recorded ones."""
    given = rollout(batch="5")
    cont = continuation([stopped_report()], ["h4"], given)
    assert cont.options == given and cont.fresh == {"h4"}


def test_continuation_reads_each_hosts_newest_run() -> None:
    """A host that ran since (a plain resume) is no longer fresh, and a newest run
    without a rollout brings no settings."""
    newer = FleetReport(
        run_id="20260101T000001Z-abcdef", hosts={"h4": result("h4", HostStatus.FAILED)}
    )
    cont = continuation([newer, stopped_report()], ["h4", "h5"], RolloutOptions())
    assert cont.options == RolloutOptions()
    assert cont.fresh == {"h5"}
    assert continuation([], ["h1"], RolloutOptions()).fresh == frozenset()


def test_continue_command_names_every_host_that_did_not_complete() -> None:
    """One command: -i as given, the hosts in order, the rollout's options."""
    command = continue_command(stopped_report(), "lab inv.yml")
    assert command == (
        "fleet resume -i 'lab inv.yml' h2 h3 h4 h5 --canary 1 --batch 2 --max-fail 1"
    )
    report = stopped_report()
    assert report.rollout is not None
    report.rollout.stopped = None
    assert continue_command(report, None) is None


def test_rollout_round_trips_through_the_store(tmp_path: Path) -> None:
    """report.json keeps waves and the rollout object, meta.json which hosts were fresh."""
    store = RunStore(tmp_path)
    report = stopped_report(command="deploy")
    store.new_run(RUN_ID).save(report)
    again = next(store.recent())
    assert again.to_json() == report.to_json()
    assert again.rollout is not None and again.rollout.fresh == report.rollout.fresh  # type: ignore[union-attr]


# --- the views ------------------------------------------------------------------------


def console() -> Console:
    return Console(file=io.StringIO(), width=200, color_system=None)


def output(c: Console) -> str:
    assert isinstance(c.file, io.StringIO)
    return c.file.getvalue()


def test_report_shows_waves_why_it_stopped_and_the_command_that_continues() -> None:
    """The summary: a wave column, the stop reason once, the one resume command."""
    c = console()
    render_report(c, stopped_report(), inventory_arg="lab.yml")
    out = output(c)
    assert out.splitlines()[2].split()[1] == "wave"
    assert "rollout stopped: failure budget spent" in out
    assert (
        "continue the rollout: fleet resume -i lab.yml h2 h3 h4 h5 "
        "--canary 1 --batch 2 --max-fail 1"
    ) in out
    assert "h2: failed" in out and "h4: not_started" not in out  # one reason, once
    plain = FleetReport(run_id=RUN_ID, hosts={"h1": result("h1", HostStatus.COMPLETED)})
    assert "wave" not in [col.header for col in report_table(plain).columns]


def test_live_view_marks_which_wave_runs_and_which_wait() -> None:
    """Each row has its wave; a host of the running wave is waiting (for a slot), one of
    a later wave waits for this one; the caption names the wave running."""
    waves = {"h1": 1, "h2": 2, "h3": 2, "h4": 3}
    hosts: list[tuple[str, int]] = [("h1", 2), ("h2", 2), ("h3", 2), ("h4", 2)]
    live = LiveView(console(), hosts, clock=lambda: 0.0, waves=waves)
    live.on_update(result("h1", HostStatus.COMPLETED), None)
    running = result("h2", HostStatus.RUNNING)
    running.stage = "deploy"
    live.on_update(running, None)
    table = live.table()
    assert table.columns[0].header == "wave"
    assert table.caption is not None and table.caption.startswith("wave 2 of 3")
    c = console()
    c.print(table)
    rows = {line.split()[1]: line for line in output(c).splitlines()[1:5]}
    assert "deploy" in rows["h2"] and "waiting" in rows["h3"] and "after wave 2" in rows["h4"]


def test_plain_view_says_when_each_wave_starts() -> None:
    """Non-terminal output: one `wave N of M: HOSTS` line as each wave begins."""
    c = console()
    view = PlainView(c, {"h1": 1, "h2": 2, "h3": 2})
    view.on_update(result("h1", HostStatus.RUNNING), None)
    view.on_update(result("h1", HostStatus.COMPLETED), None)
    view.on_update(result("h2", HostStatus.RUNNING), None)
    view.on_update(result("h3", HostStatus.RUNNING), None)
    lines = [line.split(" ", 1)[1] for line in output(c).splitlines()]  # after the time
    assert lines.count("wave 1 of 2: h1") == 1 and lines.count("wave 2 of 2: h2 h3") == 1


# --- the command line -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--batch", "0"], "--batch takes N >= 1"),
        (["--batch", "150%"], "--batch takes P% in 1..100"),
        (["--max-fail", "some"], "--max-fail takes N or P%"),
        (["--canary", "0"], "--canary"),
    ],
)
def test_bad_rollout_options_exit_usage_and_contact_nobody(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], says: str
) -> None:
    """A bad --batch, --max-fail or --canary: exit 2 naming the option, no run recorded."""
    from typer.testing import CliRunner

    from controller.cli.app import app
    from controller.errors import ExitStatus

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    inv = tmp_path / "hosts.yml"
    inv.write_text("hosts:\n  nas:\n    address: 127.0.9.8\n    services: [x]\n")
    for command in (["deploy"], ["resume", "nas"]):
        result = CliRunner().invoke(app, [*command, "-i", str(inv), *args])
        assert result.exit_code == ExitStatus.USAGE
        assert says in " ".join(result.stderr.replace("│", " ").split())
        assert not (tmp_path / "state" / "fleet" / "runs").exists()


def _local_hosts(base: Path, names: list[str]) -> Path:
    """`connection: local` hosts, one root each, with test_cli's fake compose command."""
    from tests.unit.controller.test_cli import FAKE_COMPOSE

    entries = []
    for name in names:
        root = base / name
        service = root / "repo" / "services" / "web"
        service.mkdir(parents=True)
        (service / "compose.yaml").write_text("services: {}\n")
        (service / "healthcheck.sh").write_text("#!/bin/sh\nexit 0\n")
        (root / "broken").mkdir()
        compose = root / "compose"
        compose.write_text(FAKE_COMPOSE.format(root=root))
        compose.chmod(0o755)
        entries.append(
            f"  {name}:\n    connection: local\n    root: {root}\n"
            f"    compose_command: {compose}\n    services: [web]\n"
        )
    inv = base / "hosts.yml"
    inv.write_text("hosts:\n" + "".join(entries))
    return inv


@pytest.mark.skipif(shutil.which("python3") is None, reason="the runner needs python3")
def test_resume_without_options_continues_a_stopped_rollout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the real runner on local hosts: the canary fails, the rest are not_started;
    `fleet resume a b c` alone reuses the recorded settings and gives b and c a fresh run
    (with --resume their earlier completed run would make them do nothing)."""
    from typer.testing import CliRunner

    from controller.cli.app import app
    from controller.errors import ExitStatus

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("FLEET_INVENTORY", raising=False)
    inv = _local_hosts(tmp_path, ["a", "b", "c"])

    def fleet(*args: str) -> tuple[int, dict[str, Any]]:
        result = CliRunner().invoke(app, [*args, "-i", str(inv), "--json"])
        return result.exit_code, json.loads(result.stdout)

    assert fleet("deploy")[0] == ExitStatus.OK  # b and c now have a completed run
    (tmp_path / "a" / "broken" / "web").write_text("")
    code, first = fleet("deploy", "--canary", "1", "--max-fail", "0")
    assert code == ExitStatus.NOT_COMPLETED
    assert [h["status"] for h in first["hosts"].values()] == [
        "failed",
        "not_started",
        "not_started",
    ]
    (tmp_path / "a" / "broken" / "web").unlink()
    code, again = fleet("resume", "a", "b", "c")
    assert code == ExitStatus.OK, again
    assert again["rollout"] == {
        "batch": None, "canary": 1, "max_fail": "0", "waves": 2, "stopped": None,
    }  # fmt: skip
    assert [h["wave"] for h in again["hosts"].values()] == [1, 2, 2]
    assert again["hosts"]["a"]["services"] == {"web": "completed"}  # resumed at web
    assert again["hosts"]["b"]["services"] == {"web": "completed"}  # a fresh run, not skipped
