"""Renders a recorded run as one self-contained HTML page (Jinja2, inline CSS, no script)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from controller.htmlreport.page import build_page

TEMPLATES = "templates"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("controller.htmlreport", TEMPLATES),
        autoescape=True,
        trim_blocks=False,
        undefined=jinja2.StrictUndefined,
    )


@lru_cache(maxsize=1)
def _css() -> str:
    return (resources.files(__package__) / TEMPLATES / "report.css").read_text(encoding="utf-8")


def render_html(
    report: Mapping[str, Any], logs: Mapping[str, bytes], meta: Mapping[str, Any] | None = None
) -> str:
    """The page for a run: report.json's object, each host's run log (host -> bytes; a host
    without one gets a row without bars) and, where recorded, meta.json's object."""
    page = build_page(report, logs, meta)
    template = _environment().get_template("report.html.j2")
    return template.render(page=page, css=_css())


def load_run(folder: Path) -> tuple[dict[str, Any], dict[str, bytes], dict[str, Any] | None]:
    """A recorded run folder ($XDG_STATE_HOME/fleet/runs/<run_id>/): report, logs, meta."""
    report: dict[str, Any] = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else None
    logs = {}
    for name in report.get("hosts") or {}:
        log = folder / "hosts" / f"{name}.log"
        if log.is_file():
            logs[name] = log.read_bytes()
    return report, logs, meta


def render_run(folder: str | Path) -> str:
    """The page for a recorded run folder."""
    return render_html(*load_run(Path(folder)))


def write_run_html(folder: str | Path, out: str | Path) -> Path:
    """Renders a recorded run folder into the file `out` (UTF-8); returns its path."""
    target = Path(out)
    target.write_text(render_run(folder), encoding="utf-8")
    return target
