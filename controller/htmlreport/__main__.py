"""python -m controller.htmlreport RUN_FOLDER [-o OUT.html] [--png OUT.png]

Renders a recorded run (a folder under $XDG_STATE_HOME/fleet/runs/, or the runs/ folder
itself for its newest run) to HTML, and optionally a PNG of it (docs/report-example.png).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from controller.htmlreport.render import write_run_html
from controller.htmlreport.snapshot import screenshot


def newest_run(folder: Path) -> Path:
    """The folder itself when it holds a report, else its newest run that does."""
    if (folder / "report.json").is_file():
        return folder
    runs = sorted(p for p in folder.iterdir() if (p / "report.json").is_file())
    if not runs:
        raise SystemExit(f"no recorded run under {folder}")
    return runs[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m controller.htmlreport")
    parser.add_argument("run", type=Path, help="a run folder, or the runs/ folder (newest run)")
    parser.add_argument("-o", "--output", type=Path, default=Path("report.html"))
    parser.add_argument("--png", type=Path, help="also write a screenshot of the page here")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)
    html = write_run_html(newest_run(args.run), args.output)
    print(html)
    if args.png is not None:
        print(screenshot(html, args.png, args.width, args.height))
    return 0


if __name__ == "__main__":
    sys.exit(main())
