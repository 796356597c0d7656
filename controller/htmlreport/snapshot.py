"""A picture of a page: headless Chromium's screenshot (Debian's `chromium`)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


class NoBrowser(RuntimeError):
    """No headless browser is installed to take the screenshot."""


def find_browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise NoBrowser(f"no browser to render with: install one of {', '.join(BROWSERS)}")


def screenshot(
    html: str | Path, png: str | Path, width: int = 1400, height: int = 900, timeout: float = 60
) -> Path:
    """Renders the HTML file `html` headless into `png` (width x height pixels)."""
    source = Path(html).resolve()
    target = Path(png).resolve()
    with tempfile.TemporaryDirectory(prefix="fleet-chromium-") as profile:
        argv = [
            find_browser(),
            "--headless",
            "--no-sandbox",  # root in a container has no user namespace for the sandbox
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={target}",
            source.as_uri(),
        ]
        subprocess.run(argv, check=True, capture_output=True, timeout=timeout)
    if not target.is_file():
        raise NoBrowser(f"the browser wrote no screenshot to {target}")
    return target
