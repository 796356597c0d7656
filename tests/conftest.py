"""Fixtures for the real test world (TESTWORLD.md): dockerd, a busybox image, sshd hosts.

End-to-end tests may skip where the world is truly unavailable (a contributor's laptop
without root or Docker), but under CI=true a skipped end-to-end test fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from tests.lab import Lab, LabError, LabUnavailable, ensure_busybox_image, ensure_docker

IN_CI = os.environ.get("CI", "").lower() == "true"
# Each pytest process takes its own 127.x.1.0/24 for its labs, so that two test runs on one
# machine (contributors running parts of the suite side by side) never share an address.
LAB_SUBNET = f"127.{100 + os.getpid() % 100}.1"


def _unavailable(why: str) -> None:
    if IN_CI:
        pytest.fail(f"end-to-end world unavailable under CI=true: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """A running dockerd with Compose v2."""
    try:
        ensure_docker()
    except LabUnavailable as exc:
        _unavailable(str(exc))


@pytest.fixture(scope="session")
def busybox_image(docker_engine: None) -> str:
    """The locally imported busybox image tag."""
    try:
        return ensure_busybox_image()
    except LabUnavailable as exc:
        _unavailable(str(exc))
        raise


@pytest.fixture
def make_lab(tmp_path: Path, busybox_image: str) -> Iterator[Callable[[Iterable[str]], Lab]]:
    """A factory of labs of real sshd hosts, all torn down after the test, also on failure."""
    labs: list[Lab] = []

    def factory(names: Iterable[str]) -> Lab:
        if os.geteuid() != 0:
            _unavailable("the lab needs root")
        lab = Lab(tmp_path / f"lab{len(labs)}", list(names), subnet=LAB_SUBNET)
        labs.append(lab)
        try:
            lab.start()
        except (LabError, OSError) as exc:
            _unavailable(f"cannot start sshd hosts: {exc}")
        return lab

    yield factory
    for lab in labs:
        lab.stop()


@pytest.fixture
def unique() -> str:
    """A short token to keep this test's service names (compose projects) apart."""
    return uuid.uuid4().hex[:6]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is an end-to-end test, marked or not."""
    for item in items:
        if "/tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[pytest.TestReport]:
    """Under CI=true an end-to-end test that skips is a failure: CI must prove the real path."""
    report: pytest.TestReport = yield
    if IN_CI and report.skipped and item.get_closest_marker("e2e") is not None:
        report.outcome = "failed"
        report.longrepr = f"end-to-end test skipped under CI=true: {report.longrepr}"
    return report
