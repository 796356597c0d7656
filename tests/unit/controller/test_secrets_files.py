"""controller/secrets: which file a host's service gets, the identity chain, and errors
that name the file but never a value."""

from __future__ import annotations

from pathlib import Path

import pyrage
import pytest

from controller.secrets import keys
from controller.secrets.crypt import decrypt_file, encrypt
from controller.secrets.files import host_files
from controller.secrets.host import host_secrets, plan_hashes
from controller.secrets.keys import SecretError, identity_paths


def test_the_hosts_own_file_wins(tmp_path: Path) -> None:
    (tmp_path / "secrets" / "nas").mkdir(parents=True)
    for name in ("secrets/web.env.age", "secrets/db.env.age", "secrets/nas/web.env.age"):
        (tmp_path / name).write_bytes(b"")
    found = host_files(tmp_path, "nas", ["web", "db", "cache"])
    assert found == {
        "web": tmp_path / "secrets/nas/web.env.age",
        "db": tmp_path / "secrets/db.env.age",
    }
    assert host_files(tmp_path, "pi", ["web"]) == {"web": tmp_path / "secrets/web.env.age"}


def test_identity_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(keys.IDENTITY_ENV, raising=False)
    assert identity_paths(None) == []
    ssh = tmp_path / ".ssh" / "id_ed25519"
    ssh.parent.mkdir()
    ssh.write_text("key")
    assert identity_paths(None) == [ssh]
    default = tmp_path / ".config" / "fleet" / "age.key"
    default.parent.mkdir(parents=True)
    default.write_text("key")
    assert identity_paths(None) == [default]
    monkeypatch.setenv(keys.IDENTITY_ENV, "/env.key")
    assert identity_paths(None) == [Path("/env.key")]
    assert identity_paths("/given.key") == [Path("/given.key")]


def test_round_trip_and_errors_name_the_file(tmp_path: Path) -> None:
    mine, other = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    path = tmp_path / "web.env.age"
    path.write_bytes(encrypt("TOKEN=s3cr3t-v4lue\n", [mine.to_public()]))
    assert decrypt_file(path, (mine,)) == "TOKEN=s3cr3t-v4lue\n"
    with pytest.raises(SecretError, match="no identity matches") as wrong:
        decrypt_file(path, (other,))
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(SecretError, match="corrupt") as cut:
        decrypt_file(path, (mine,))
    path.write_bytes(b"TOKEN=plain\n")
    with pytest.raises(SecretError, match="not an age file") as plain:
        decrypt_file(path, (mine,))
    for err in (wrong, cut, plain):
        assert str(path) in str(err.value) and "s3cr3t" not in str(err.value)


def test_no_file_needs_no_identity(tmp_path: Path) -> None:
    found = host_secrets(tmp_path, "nas", ["web"], str(tmp_path / "missing.key"))
    assert not found and "texts" not in repr(found).split("(")[1]


def test_plan_hashes_each_file_and_names_the_ones_it_cannot_decrypt(tmp_path: Path) -> None:
    mine = pyrage.x25519.Identity.generate()
    key = tmp_path / "age.key"
    key.write_text(str(mine) + "\n")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "web.env.age").write_bytes(encrypt("TOKEN=a\n", [mine.to_public()]))
    (secrets / "db.env.age").write_bytes(b"not age")
    hashes, unreadable = plan_hashes(tmp_path, "nas", ["web", "db", "cache"], str(key))
    assert set(hashes) == {"web"} and len(hashes["web"]) == 64
    assert set(unreadable) == {"db"} and "db.env.age" in unreadable["db"]
    _, no_identity = plan_hashes(tmp_path, "nas", ["web"], str(tmp_path / "missing.key"))
    assert set(no_identity) == {"web"}
