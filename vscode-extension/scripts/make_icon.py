#!/usr/bin/env python3
"""Draws images/icon.png (128x128): a lens over a checkpoint "tensor grid", with a check mark.

Standard library only (zlib + struct), anti-aliased by 4x4 supersampling. Run it again after
changing a colour; the PNG is committed.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

SIZE = 128
SAMPLES = 4
OUT = Path(__file__).resolve().parent.parent / "images" / "icon.png"

BACKGROUND = (30, 30, 46)
GRID = (88, 91, 112)
LENS = (238, 76, 44)  # PyTorch orange
CHECK = (166, 227, 161)


def rounded_square(x: float, y: float, radius: float = 24.0) -> bool:
    cx = min(max(x, radius), SIZE - radius)
    cy = min(max(y, radius), SIZE - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def colour_at(x: float, y: float) -> tuple[int, int, int, int]:
    if not rounded_square(x, y):
        return (0, 0, 0, 0)
    lens_cx, lens_cy, lens_r, ring = 54.0, 54.0, 30.0, 8.0
    d = math.hypot(x - lens_cx, y - lens_cy)
    # handle of the lens
    if segment_distance(x, y, 76, 76, 104, 104) <= 8.5:
        return (*LENS, 255)
    if abs(d - lens_r) <= ring / 2:
        return (*LENS, 255)
    # the check mark inside the lens
    if d < lens_r - ring / 2:
        if (
            segment_distance(x, y, 40, 55, 50, 66) <= 4.5
            or segment_distance(x, y, 50, 66, 69, 43) <= 4.5
        ):
            return (*CHECK, 255)
        return (*BACKGROUND, 255)
    # a grid of "tensors" behind the lens
    if (x % 16 < 9) and (y % 16 < 9) and 12 <= x <= 121 and 12 <= y <= 121:
        return (*GRID, 255)
    return (*BACKGROUND, 255)


def render() -> bytes:
    rows = []
    step = 1.0 / SAMPLES
    for py in range(SIZE):
        row = bytearray([0])  # filter type: none
        for px in range(SIZE):
            acc = [0, 0, 0, 0]
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    r, g, b, a = colour_at(px + (sx + 0.5) * step, py + (sy + 0.5) * step)
                    acc[0] += r * a
                    acc[1] += g * a
                    acc[2] += b * a
                    acc[3] += a
            alpha = acc[3] / (SAMPLES * SAMPLES)
            if acc[3] == 0:
                row += bytes(4)
            else:
                row += bytes(
                    [
                        round(acc[0] / acc[3]),
                        round(acc[1] / acc[3]),
                        round(acc[2] / acc[3]),
                        round(alpha),
                    ]
                )
        rows.append(bytes(row))
    return b"".join(rows)


def chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def main() -> None:
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)  # 8-bit RGBA
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(render(), 9))
        + chunk(b"IEND", b"")
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(png)
    print(f"wrote {OUT} ({len(png)} bytes)")


if __name__ == "__main__":
    main()
