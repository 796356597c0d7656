"""`become: sudo` per host or in defaults; null on a host unsets it (issue #25)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from inventory import load_inventory


def test_become_from_defaults_unset_by_null_on_a_host(tmp_path: Path) -> None:
    """Defaults' sudo reaches every host but the one that says null; absent is None."""
    path = tmp_path / "hosts.yml"
    text = """\
        defaults: {become: sudo}
        hosts:
          nas: {services: [files]}
          pi: {services: [dns], become: null}
        """
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    hosts = {h.name: h.become for h in load_inventory(path).hosts}
    assert hosts == {"nas": "sudo", "pi": None}
    path.write_text("hosts: {nas: {services: [files]}}", encoding="utf-8")
    assert load_inventory(path).hosts[0].become is None
