"""The HTML report of a real lab run, rendered by headless Chromium (issue #32)."""

from __future__ import annotations

import re
import shutil
import struct
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from controller.htmlreport import screenshot, write_run_html
from tests.e2e.support import (
    DROP_DETECTED_S,
    SLOW_COMPOSE_PATH,
    Fleet,
    finish,
    install_slow_compose,
    make_slow,
    read_state,
    struct_events,
    wait_for,
)
from tests.lab import Lab, busybox_compose
from tests.unit.controller.htmlsynth import external_references, text_of

MakeLab = Callable[[Iterable[str]], Lab]
WIDTH, HEIGHT = 1400, 900
UNHEALTHY = "#!/bin/sh\necho 'the health check says no'; exit 1\n"


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of an 8-bit RGB(A) PNG (stdlib only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    step = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * step
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up, corner = previous[i], previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                near = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + near) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium (scripts/world.sh)")
def test_a_lab_run_with_a_failure_a_reconnect_and_two_waves_renders_as_a_picture(
    make_lab: MakeLab, unique: str, tmp_path: Path
) -> None:
    """4 hosts in waves of 2: mini fails verify, CHELSTY's link is cut mid-deploy and comes
    back. The recorded run's page references nothing outside itself, names every host and
    stage, and headless Chromium renders it to a non-blank PNG of the window's size."""
    names = ["nas", "mini", "pi", "CHELSTY"]
    lab = make_lab(names)
    services = {name: [f"h32-{unique}-{name.lower()}-{i}" for i in (1, 2)] for name in names}
    for name in names:
        for svc in services[name]:
            lab.add_service(
                name, svc, busybox_compose(), healthcheck=UNHEALTHY if name == "mini" else None
            )
    install_slow_compose(lab, "CHELSTY")
    first, second = services["CHELSTY"]
    make_slow(lab, "CHELSTY", second, DROP_DETECTED_S + 12)
    inventory = lab.write_inventory(
        tmp_path / "hosts.yml", CHELSTY={"compose_command": SLOW_COMPOSE_PATH}
    )
    fleet = Fleet(tmp_path / "state", inventory)

    proc = fleet.start(
        "deploy",
        "--hosts",
        "all",
        "--batch",
        "2",
        "--json",
        "--reconnect-timeout",
        "120",
        "--verify-timeout",
        "2",
    )
    wait_for(lambda: read_state(lab, "CHELSTY", "last_service") == first, 120, "first service")
    with lab.link_down("CHELSTY"):
        time.sleep(DROP_DETECTED_S + 5)
    result = finish(proc)
    hosts = result.report["hosts"]
    assert result.code == 1, result.stderr
    assert {n: hosts[n]["status"] for n in names} == {
        "nas": "completed",
        "mini": "failed",
        "pi": "completed",
        "CHELSTY": "completed",
    }
    assert [hosts[n]["wave"] for n in names] == [1, 1, 2, 2]
    run = fleet.runs_dir() / result.report["run_id"]
    notes = fleet.meta(result.report["run_id"])["hosts"]["CHELSTY"]["notes"]
    assert any("reconnecting" in note for note in notes), notes

    html_path = write_run_html(run, tmp_path / "report.html")
    html = html_path.read_text(encoding="utf-8")
    assert external_references(html) == []
    text = text_of(html)
    stages = {
        e["stage"]
        for n in names
        for e in struct_events((run / "hosts" / f"{n}.log").read_text())
        if e["event"].startswith("stage_")
    }
    assert {"prepare", "validate", "deploy", "verify", "complete"} <= stages
    for word in [*names, *stages, *services["mini"]]:
        assert word in text, word
    assert "✗ verify failed" in text and "wave 2 of 2" in text
    assert re.search(r"⟲\d+", text), "CHELSTY's reconnect notes are marked"
    gaps = fleet.meta(result.report["run_id"])["hosts"]["CHELSTY"]["gaps"]
    assert gaps and all(g["start"] <= g["end"] for g in gaps), gaps
    assert "⟲ link lost" in text, "the gap is drawn with its cause"

    png = screenshot(html_path, tmp_path / "report.png", WIDTH, HEIGHT)
    width, height, rows = png_pixels(png.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    size = len(rows[0]) // width  # 3 (RGB) or 4 (RGBA) bytes a pixel
    background = rows[0][:size]
    pixels = [row[i : i + size] for row in rows[::10] for i in range(0, len(row), size * 10)]
    drawn = sum(1 for p in pixels if p != background)
    assert len(set(pixels)) > 20, "more than a few colours"
    assert drawn / len(pixels) > 0.03, f"only {drawn} of {len(pixels)} sampled pixels drawn"
