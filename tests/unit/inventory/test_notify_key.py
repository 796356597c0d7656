"""The inventory's `notify:` key: a list of Apprise URLs, checked for shape, never echoed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from inventory import InventoryError, load_inventory

HOSTS = "hosts: {nas: {services: [files]}}\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hosts.yml"
    path.write_text(HOSTS + textwrap.dedent(text), encoding="utf-8")
    return path


def test_notify_urls_load_in_order(tmp_path: Path) -> None:
    """Each URL is kept as written (trimmed), in file order."""
    path = write(
        tmp_path,
        """\
        notify:
          - ntfys://tk_abc@ntfy.sh/homelab
          - " json://127.0.0.1:8080/hook "
          - mailto://me:pw@mail.example.org
        """,
    )
    assert load_inventory(path).notify == (
        "ntfys://tk_abc@ntfy.sh/homelab",
        "json://127.0.0.1:8080/hook",
        "mailto://me:pw@mail.example.org",
    )


@pytest.mark.parametrize("text", ["", "notify:\n", "notify: []\n"])
def test_no_notify_means_no_urls(tmp_path: Path, text: str) -> None:
    """Left out, empty or an empty list: no notifications."""
    assert load_inventory(write(tmp_path, text)).notify == ()


def test_a_bad_url_is_reported_without_its_text(tmp_path: Path) -> None:
    """A problem names the URL by its number: the text may hold a token."""
    path = write(tmp_path, "notify: [ntfy.sh/tk_SECRET, 'gotify://host/TOKEN']\n")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert [p.key for p in caught.value.problems] == ["notify"]
    assert "URL 1 is not a URL" in str(caught.value)
    assert "SECRET" not in str(caught.value)
