"""validate gives upstream `env_file: .env` the host's R/config/<svc>/.env, and says which
project name compose would accept."""

from __future__ import annotations

from remote.protocol import Exit
from tests.unit.remote.conftest import FakeHost


def test_validate_links_the_config_env_beside_the_definition(fake_host: FakeHost) -> None:
    """After validate, services/<svc>/.env is a link to R/config/<svc>/.env."""
    folder = fake_host.add_service("alpha", env="A=1\n")
    assert fake_host.run().code == Exit.OK
    link = folder / ".env"
    assert link.is_symlink()
    assert link.resolve() == (fake_host.root / "config" / "alpha" / ".env").resolve()


def test_the_repos_own_env_is_kept_warned_about_and_interpolated_first(
    fake_host: FakeHost,
) -> None:
    """A tracked services/<svc>/.env stays; compose gets it, then R/config's (which wins)."""
    folder = fake_host.add_service("alpha", env="A=2\n")
    (folder / ".env").write_text("A=1\n")
    outcome = fake_host.run()
    assert outcome.code == Exit.OK
    assert (folder / ".env").read_text() == "A=1\n"
    warnings = [e["message"] for e in outcome.named("warning")]
    assert any("has a .env of its own" in m for m in warnings), warnings
    argv = fake_host.calls("config")[0]["argv"]
    env_files = [argv[i + 1] for i, a in enumerate(argv) if a == "--env-file"]
    assert env_files == [str(folder / ".env"), str(fake_host.root / "config" / "alpha" / ".env")]


def test_a_name_compose_rejects_fails_with_the_name_it_would_accept(fake_host: FakeHost) -> None:
    """Upper case and dots: compose's message, then the lower-case, dashed name."""
    fake_host.add_service("Home.Lab")
    fake_host.control = {
        "fail": {"config": ["Home.Lab"]},
        "stderr": 'invalid project name "Home.Lab": must consist only of lowercase ...',
    }
    outcome = fake_host.run()
    message = outcome.named("service_failed")[0]["message"]
    assert 'invalid project name "Home.Lab"' in message
    assert message.endswith("(compose would accept the name home-lab)")


def test_a_missing_env_says_where_fleet_takes_it_from(fake_host: FakeHost) -> None:
    """compose's `env file .../.env not found` gets: create R/config/<svc>/.env."""
    folder = fake_host.add_service("alpha")
    fake_host.control = {
        "fail": {"config": ["alpha"]},
        "stderr": f"env file {folder}/.env not found: stat {folder}/.env: no such file",
    }
    message = fake_host.run().named("service_failed")[0]["message"]
    config_env = fake_host.root / "config" / "alpha" / ".env"
    assert message.endswith(f"(fleet links {config_env} there: create that file on the host)")
