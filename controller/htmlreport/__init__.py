"""The HTML report of a recorded run: one self-contained page, a summary table and a
timeline per host (issue #32).

    render_run(folder) -> str          a run folder under $XDG_STATE_HOME/fleet/runs/
    render_html(report, logs, meta)    report.json's object, host -> log bytes, meta.json's
    write_run_html(folder, out)        what `fleet report RUN --html FILE` writes
    screenshot(html, png)              headless Chromium's picture of a page

It reads the recorded JSON and log text only; it imports none of the controller's classes.
"""

from __future__ import annotations

from controller.htmlreport.render import load_run, render_html, render_run, write_run_html
from controller.htmlreport.snapshot import screenshot

__all__ = ["load_run", "render_html", "render_run", "screenshot", "write_run_html"]
