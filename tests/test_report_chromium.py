"""The HTML annual report opens in headless Chromium and its chart is drawn.

A screenshot (PNG, decoded here with zlib and struct) must show every series' colour in bars above
the chart's axis, one bar a month, each colour's height in proportion to its count; the same report
rendered without the chart shows none of those colours. Skipped when Chromium is not installed,
except in CI (CI=true), where it fails. Debian: ``apt-get install -y --no-install-recommends chromium``.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from iop_workflow.report.annual import Transition
from iop_workflow.report.annual_html import AXIS, annual_html, colours
from tests.annual_helpers import move, report_from

WIDTH, HEIGHT = 1200, 1600


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    reason = "headless Chromium is not installed (Debian: apt-get install -y --no-install-recommends chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; it is required in CI")
    pytest.skip(reason)


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    rows: list[bytes]  # RGB, 3 bytes a pixel

    def find(self, colour: str) -> list[tuple[int, int]]:
        """Every (x, y) whose pixel is exactly ``colour`` (#rrggbb)."""
        pattern, out = bytes.fromhex(colour.lstrip("#")), []
        for y, row in enumerate(self.rows):
            i = row.find(pattern)
            while i != -1:
                if i % 3 == 0:
                    out.append((i // 3, y))
                i = row.find(pattern, i + 1)
        return out


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _unfilter(kind: int, line: bytearray, prev: bytes, bpp: int) -> bytes:
    n = len(line)
    if kind == 1:  # Sub
        for i in range(bpp, n):
            line[i] = (line[i] + line[i - bpp]) & 0xFF
    elif kind == 2:  # Up: bytewise addition without carries, on the whole row at once
        x, y = int.from_bytes(line, "big"), int.from_bytes(prev, "big")
        low, high = int.from_bytes(b"\x7f" * n, "big"), int.from_bytes(b"\x80" * n, "big")
        return (((x & low) + (y & low)) ^ ((x ^ y) & high)).to_bytes(n, "big")
    elif kind == 3:  # Average
        for i in range(n):
            line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 0xFF
    elif kind == 4:  # Paeth
        for i in range(n):
            a, c = (line[i - bpp], prev[i - bpp]) if i >= bpp else (0, 0)
            line[i] = (line[i] + _paeth(a, prev[i], c)) & 0xFF
    return bytes(line)


def decode_png(data: bytes) -> Image:
    """An 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) as RGB rows."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks, header = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body, pos = data[pos + 8 : pos + 8 + length], pos + 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, colour_type in (2, 6), interlace) == (8, True, 0), (depth, colour_type, interlace)
    bpp = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(b"".join(chunks)), width * bpp
    rows, prev = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        prev = _unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), prev, bpp)
        rows.append(prev if bpp == 3 else bytes(b for i, b in enumerate(prev) if i % 4 != 3))
    return Image(width, height, rows)


def screenshot(binary: str, html: str, folder: Path) -> Image:
    folder.mkdir()
    page, shot = folder / "report.html", folder / "shot.png"
    page.write_text(html, encoding="utf-8")
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--force-device-scale-factor=1",
        f"--user-data-dir={folder / 'profile'}",
        f"--screenshot={shot}",
        f"--window-size={WIDTH},{HEIGHT}",
        page.as_uri(),
    ]
    env = {**os.environ, "HOME": str(folder)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env, cwd=folder)
    assert done.returncode == 0 and shot.is_file(), f"chromium exited {done.returncode}:\n{done.stderr[-2000:]}"
    return decode_png(shot.read_bytes())


def a_year() -> list[Transition]:
    """Seven cases whose states change through 2026, so that every month has a bar of several colours."""
    rows = []
    for ref in ("P2", "P3"):
        rows += [
            move(ref, "2025-03-03 09:00", "open", "initiative"),
            move(ref, "2025-03-03 09:00", "sign", "signed"),
            move(ref, "2025-04-01 09:00", "activate", "active"),
        ]
    rows += [
        move("P1", "2026-01-05 09:00", "open", "initiative"),
        move("P4", "2026-02-01 09:00", "open", "initiative"),
        move("P5", "2026-02-10 09:00", "open", "initiative"),
        move("P4", "2026-02-15 09:00", "start_dialogue", "dialogue"),
        move("P1", "2026-03-10 09:00", "start_dialogue", "dialogue"),
        move("P5", "2026-03-12 09:00", "sign", "signed"),
        move("P2", "2026-04-15 09:00", "start_review", "review"),
        move("P1", "2026-05-10 09:00", "submit_for_assessment", "assessment"),
        move("P2", "2026-05-20 09:00", "continue", "active"),
        move("P5", "2026-06-01 09:00", "activate", "active"),
        move("P1", "2026-06-10 09:00", "sign", "signed"),
        move("P1", "2026-08-01 09:00", "activate", "active"),
        move("P3", "2026-09-15 09:00", "terminate", "ended", "terminated"),
        move("P2", "2026-09-20 09:00", "start_review", "review"),
        move("P2", "2026-10-10 09:00", "renew", "renewed"),
        move("P1", "2026-11-01 09:00", "start_review", "review"),
    ]
    return sorted(rows, key=lambda t: t.at)


def test_the_chart_is_drawn_in_chromium(tmp_path: Path) -> None:
    binary = chromium()
    report = report_from(2026, a_year())
    series = [s["state"] for s in report["states"] if not s["terminal"]]
    fill = colours(series)
    shot = screenshot(binary, annual_html(report, "sv"), tmp_path / "chart")
    assert (shot.width, shot.height) == (WIDTH, HEIGHT)
    # The axis: the topmost row holding a long run of the axis colour; bars stand on it, the legend is below.
    axis_rows = [y for y, row in enumerate(shot.rows) if bytes.fromhex(AXIS[1:]) * 600 in row]
    assert axis_rows, "no chart axis in the screenshot"
    axis = axis_rows[0]
    assert 100 < axis < 700, axis  # the chart comes first, under the heading
    heights: dict[str, dict[int, int]] = {}  # state -> x -> pixels above the axis
    for state in series:
        columns: dict[int, int] = defaultdict(int)
        for x, y in shot.find(fill[state]):
            if y < axis:
                columns[x] += 1
        heights[state] = columns
        present = any(m["counts"][state] for m in report["monthly"])
        assert bool(columns) == present, (state, present)
    bars = _bars(sorted({x for columns in heights.values() for x in columns}))
    assert len(bars) == 12, bars  # every month of a_year() has open cases
    totals = [sum(m["counts"][s] for s in series) for m in report["monthly"]]
    unit = max(sum(heights[s].get(_middle(bars[i]), 0) for s in series) / totals[i] for i in range(12))
    assert unit > 20  # pixels a case: a real chart, not specks
    for i, month in enumerate(report["monthly"]):
        for state in series:
            drawn = heights[state].get(_middle(bars[i]), 0)
            assert abs(drawn - month["counts"][state] * unit) <= 3, (month["month"], state, drawn, unit)
    without = screenshot(binary, annual_html(report, "sv", chart=False), tmp_path / "plain")
    assert {s: len(without.find(fill[s])) for s in series} == dict.fromkeys(series, 0)
    assert not [y for y, row in enumerate(without.rows) if bytes.fromhex(AXIS[1:]) * 600 in row]


def _bars(xs: list[int]) -> list[tuple[int, int]]:
    """Runs of neighbouring columns: (first, last) of each bar, left to right."""
    runs: list[tuple[int, int]] = []
    for x in xs:
        if runs and x == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], x)
        else:
            runs.append((x, x))
    return runs


def _middle(bar: tuple[int, int]) -> int:
    return (bar[0] + bar[1]) // 2
