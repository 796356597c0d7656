"""The receive side of a push (remote/source.py): what it refuses."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

from remote import incoming, source


def manifest(entries: list[dict[str, object]], services: list[str] | None = None) -> bytes:
    raw = {"version": 1, "services": services or ["web"], "entries": entries}
    return json.dumps(raw, sort_keys=True).encode()


def a_file(path: str, data: bytes) -> dict[str, object]:
    sha = hashlib.sha256(data).hexdigest()
    return {"path": path, "type": "file", "mode": 0o644, "sha256": sha, "size": len(data)}


@pytest.mark.parametrize(
    "entry",
    [
        a_file("services/other/compose.yaml", b"x"),
        a_file("services/web/../../config/web/.env", b"x"),
        a_file("config/web/.env", b"x"),
        {"path": "services/web/l", "type": "symlink", "target": "../../config"},
        {"path": "services/web/l", "type": "symlink", "target": "/etc"},
        {"path": "services/web/p", "type": "fifo"},
    ],
)
def test_entries_outside_the_service_folders_are_refused(
    tmp_path: Path, entry: dict[str, object]
) -> None:
    """Nothing lands outside services/<svc>/ of the manifest's services."""
    with pytest.raises(source.SourceError):
        source.need(str(tmp_path), str(tmp_path / "repo"), manifest([entry]))


def test_an_object_with_the_wrong_hash_is_discarded(tmp_path: Path) -> None:
    """Contents are stored only when their hash checks; nothing is switched."""
    data = manifest([a_file("services/web/compose.yaml", b"right")])
    sha = hashlib.sha256(b"right").hexdigest()
    body = b"%d\n%s%s 5\nwrong%s" % (len(data), data, sha.encode(), source.STREAM_END)
    with pytest.raises(source.SourceError, match="another hash"):
        source.receive(str(tmp_path), str(tmp_path / "repo"), io.BytesIO(body))
    assert not (tmp_path / ".fleet/objects" / sha).exists()
    assert not (tmp_path / "repo").exists()


def test_need_lists_missing_and_says_current(tmp_path: Path) -> None:
    """Before any push everything is missing and R/repo is not the revision."""
    data = manifest([a_file("services/web/compose.yaml", b"abc")])
    answer = source.need(str(tmp_path), str(tmp_path / "repo"), data)
    assert answer["missing"] == [hashlib.sha256(b"abc").hexdigest()]
    assert answer["current"] is False
    assert answer["rev"] == hashlib.sha256(data).hexdigest()[:16]


def pushed(root: Path, files: dict[str, bytes], services: list[str]) -> bytes:
    """Receive a push of `files` into root (R/repo switched to it); its manifest."""
    data = manifest([a_file(p, b) for p, b in sorted(files.items())], services)
    body = b"%d\n%s" % (len(data), data)
    for content in sorted(set(files.values())):
        body += b"%s %d\n%s" % (hashlib.sha256(content).hexdigest().encode(), len(content), content)
    source.receive(str(root), str(root / "repo"), io.BytesIO(body + source.STREAM_END))
    return data


def test_incoming_files_are_what_the_push_would_change_per_service(tmp_path: Path) -> None:
    """Nothing pushed yet: every file comes; the current revision: nothing; a new one:
    only the services whose files it adds, changes or removes."""
    first = {"services/web/compose.yaml": b"w1", "services/db/compose.yaml": b"d1"}
    data = manifest([a_file(p, b) for p, b in sorted(first.items())], ["web", "db"])
    repo = str(tmp_path / "repo")
    assert incoming.incoming_files(str(tmp_path), repo, source.Manifest(data)) == {
        "db": ["services/db/compose.yaml"],
        "web": ["services/web/compose.yaml"],
    }
    pushed(tmp_path, first, ["web", "db"])
    assert incoming.incoming_files(str(tmp_path), repo, source.Manifest(data)) == {}
    second = {"services/web/compose.yaml": b"w2", "services/db/compose.yaml": b"d1"}
    second["services/web/healthcheck.sh"] = b"true"
    changed = manifest([a_file(p, b) for p, b in sorted(second.items())], ["web", "db"])
    assert incoming.incoming_files(str(tmp_path), repo, source.Manifest(changed)) == {
        "web": ["services/web/compose.yaml", "services/web/healthcheck.sh"]
    }
    gone = manifest([a_file("services/db/compose.yaml", b"d1")], ["web", "db"])
    assert incoming.incoming_files(str(tmp_path), repo, source.Manifest(gone)) == {
        "web": ["services/web/compose.yaml"]
    }
