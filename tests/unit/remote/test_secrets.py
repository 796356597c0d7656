"""A .env value never reaches a log line, an event, stdout, summary.json or diagnostics,
even when compose echoes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from remote.docker.redact import Scrubber, env_pairs, env_values, secrets_of
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


ENV_FILES = Path(__file__).resolve().parents[2] / "data" / "env"
# Per realistic .env (tests/data/env): its service, what must be masked, what must stay.
CASES = {
    "nextcloud": (
        ["Tr0ub4dor-and-3", "correct horse battery staple"],
        ["nextcloud", "db", "redis", "admin", "cloud.example.com localhost", "Europe/Berlin"],
    ),
    "immich": (
        ["postgres"],
        ["immich", "./library", "./postgres", "release"],
    ),
    "paperless": (
        ["9fK2xQ7vLp3Zr8Tn1Wd5Hs6Jb4Mc0Ya", "paperless-db-pass-7731", "r3dis-pw-xyz"],
        ["paperless", "/run/secrets/paperless_dbpass", "deu+eng", "America/Los_Angeles",
         "https://paperless.example.com", "admin@example.com", "1000", "60"],
    ),
    "gitea": (
        ["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJuYmYiOjE3MDAwMDAwMDB9.c2lnbmF0dXJl",
         "a3f9c2e8d1b7046e5f2a9c3d8e1b7f40", "Zx8pWq3LmN5vRt7Ky2Hd9Fs4Gj6Bc1Ae0Uo-Ii_Pl",
         "k0deiud3qheykrm5w2"],
        ["gitea", "mysql", "db:3306", "https://git.example.com/", "2222", "false"],
    ),
    "vaultwarden": (
        ["Sm7p-P@ss!word"],
        ["https://vault.example.com", "smtp.example.com", "starttls", "warn", "587", "true"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("service", sorted(CASES))
def test_realistic_env_masks_its_secrets_and_keeps_its_meaning(service: str) -> None:
    """Secret-named values and random-looking ones are masked; names, paths, numbers,
    booleans, URLs and words of the same file stay readable."""
    masked, kept = CASES[service]
    pairs = env_pairs(str(ENV_FILES / f"{service}.env"))
    found = secrets_of(pairs, protected=[service, "nas"])
    for secret in masked:
        assert secret in found, (service, secret)
    for value in kept:
        assert value not in found, (service, value)
    scrub = Scrubber(found, keep=[service, "nas"])
    line = f"service {service}: env file /opt/homelab/repo/services/{service}/.env not found"
    assert scrub(line) == line
    assert scrub(f"x {masked[0]} y") == "x *** y"


def test_vaultwarden_admin_token_with_dollars_is_masked_whole() -> None:
    """An argon2 PHC string (quoted, full of $ and =) is one secret."""
    pairs = dict(env_pairs(str(ENV_FILES / "vaultwarden.env")))
    token = pairs["ADMIN_TOKEN"]
    assert token.startswith("$argon2id$") and token.endswith("IpE")
    assert token in secrets_of(pairs.items())


def test_a_password_equal_to_the_service_name_never_hides_the_name() -> None:
    """MYSQL_ROOT_PASSWORD=gitea on service gitea: masking it would hide the name."""
    assert secrets_of([("MYSQL_ROOT_PASSWORD", "gitea")], protected=["gitea"]) == []
    assert secrets_of([("MYSQL_ROOT_PASSWORD", "gitea")], protected=["other"]) == ["gitea"]


def test_a_secret_inside_a_service_name_is_masked_only_outside_it() -> None:
    """PASSWORD=cloud on service nextcloud: the name stays whole, the bare word is masked."""
    scrub = Scrubber(["cloud"], keep=["nextcloud", "/opt/homelab"])
    assert scrub("nextcloud: cloud, nextcloud-db cloud") == "nextcloud: ***, nextcloud-db ***"


@pytest.mark.parametrize(
    ("key", "value", "secret"),
    [
        ("DB_PASSWORD", "QzWxVuTsRpNmghij", True),
        ("PAPERLESS_DBPASS", "swordfish", True),
        ("API_KEY", "swordfish", True),
        ("APIKEY", "swordfish", True),
        ("PASSWORD", "123456", True),
        ("TOKEN_TTL", "3600", False),
        ("AUTHENTIK_POSTGRESQL__HOST", "postgresql", False),
        ("SSL_KEY", "/certs/privkey.pem", False),
        ("SSL_KEY", "./key.pem", False),
        ("AUTH_URL", "https://auth.example.com/login", False),
        ("AUTH_HOST", "auth.example.com", False),
        ("POSTGRES_HOST_AUTH_METHOD", "none", False),
        ("ADMIN_PASSWORD", "abc", False),
        ("IMAGE", "ghcr.io/immich-app/immich-server:v1.106.4", False),
        ("DIGEST", "1234567890123456789", False),
        ("ANY", "dGhpcyBpcyBhIHNlY3JldA==", True),
        ("ANY", "immich-server-v1-106-4", False),
        ("ANY", "my_super_long_db_name_2024", False),
    ],
)
def test_the_rule_by_key_and_shape(key: str, value: str, secret: bool) -> None:
    """One line per case of docs/stacks.md's rule."""
    assert (value in secrets_of([(key, value)])) is secret


def test_env_pairs_reads_inline_comments_and_export_like_compose(tmp_path: Path) -> None:
    """`KEY=v # note` is v; a quoted value keeps its #; `export KEY=` is KEY."""
    env = tmp_path / ".env"
    env.write_text("export A=1 # one\nB='x # y'\nC=a#b\n")
    assert env_pairs(str(env)) == [("A", "1"), ("B", "x # y"), ("C", "a#b")]
