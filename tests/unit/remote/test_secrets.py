"""A .env value never reaches a log line, an event, stdout, summary.json or diagnostics,
even when compose echoes it."""

from __future__ import annotations

from pathlib import Path

from remote.redact import Scrubber, env_values
from tests.unit.remote.conftest import FakeHost

SECRET = "hunter2-Sup3rSecret"


def test_secret_never_leaves_the_env_file(three_services: FakeHost) -> None:
    """compose config printing the merged file, compose up failing with the secret in
    its error, and container logs echoing it: none of it shows the value."""
    (three_services.root / "config" / "bravo").mkdir(parents=True)
    (three_services.root / "config" / "bravo" / ".env").write_text(
        f"# db\nexport DB_PASSWORD='{SECRET}'\nLEVEL=1\n"
    )
    three_services.control = {
        "stdout": {"config": f"environment:\n  DB_PASSWORD: {SECRET}\n", "logs": f"pw={SECRET}\n"},
        "fail": {"up": ["bravo"]},
        "stderr": f"invalid interpolation: {SECRET}",
    }
    outcome = three_services.run()
    diagnostics = Path(outcome.named("diagnostics_collected")[0]["path"])
    assert "***" in diagnostics.read_text()
    places = {
        "stdout": outcome.stdout.decode(),
        "log": Path(outcome.events[0]["path"]).read_text(),
        "diagnostics": diagnostics.read_text(),
        "summary": (three_services.state / "summary.json").read_text(),
    }
    for where, text in places.items():
        assert SECRET not in text, where
    assert "invalid interpolation: ***" in outcome.named("service_failed")[0]["message"]


def test_env_values_parses_exports_quotes_and_comments(tmp_path: Path) -> None:
    """KEY=VALUE lines, `export`, quotes stripped, comments and blanks ignored."""
    env = tmp_path / ".env"
    env.write_text("# comment\n\nexport A='one two'\nB=\"three\"\nC=four=4\nnot a pair\n")
    assert env_values(str(env)) == ["one two", "three", "four=4"]


def test_scrubber_masks_long_secrets_first_and_spares_trivial_values() -> None:
    """A secret containing another is masked whole; short and boolean values stay."""
    scrub = Scrubber(["abcd", "abcdefgh", "1", "true"])
    assert scrub("x abcdefgh y abcd true 1") == "x *** y *** true 1"
