"""Draw the Teams app icons (a warning sign) as PNGs with the standard library: `python teams/make_icons.py`."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

ACCENT = (192, 57, 43)  # the manifest's accentColor, #C0392B
WHITE = (255, 255, 255)
Shape = Callable[[float, float], bool]  # is this point (0..1, 0..1) inside?


def triangle(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> Shape:
    def inside(x: float, y: float) -> bool:
        d1 = (x - bx) * (ay - by) - (ax - bx) * (y - by)
        d2 = (x - cx) * (by - cy) - (bx - cx) * (y - cy)
        d3 = (x - ax) * (cy - ay) - (cx - ax) * (y - ay)
        return not ((d1 < 0 or d2 < 0 or d3 < 0) and (d1 > 0 or d2 > 0 or d3 > 0))

    return inside


def box(x0: float, y0: float, x1: float, y1: float) -> Shape:
    return lambda x, y: x0 <= x <= x1 and y0 <= y <= y1


SIGN = triangle(0.5, 0.16, 0.12, 0.80, 0.88, 0.80)
HOLE = triangle(0.5, 0.30, 0.24, 0.73, 0.76, 0.73)  # the outline icon is the sign's rim
MARK = [box(0.46, 0.36, 0.54, 0.60), box(0.46, 0.64, 0.54, 0.71)]  # the exclamation mark


def color_pixel(x: float, y: float) -> tuple[int, int, int, int]:
    if SIGN(x, y) and not any(part(x, y) for part in MARK):
        return (*WHITE, 255)
    return (*ACCENT, 255)


def outline_pixel(x: float, y: float) -> tuple[int, int, int, int]:
    white = (SIGN(x, y) and not HOLE(x, y)) or any(part(x, y) for part in MARK)
    return (*WHITE, 255) if white else (0, 0, 0, 0)


def render(size: int, pixel: Callable[[float, float], tuple[int, int, int, int]], samples: int = 4) -> bytes:
    """An RGBA PNG, each pixel the average of samples×samples points (smooth edges)."""
    rows = []
    for py in range(size):
        row = bytearray(b"\x00")  # filter type: none
        for px in range(size):
            points = [
                pixel((px + (i + 0.5) / samples) / size, (py + (j + 0.5) / samples) / size)
                for i in range(samples)
                for j in range(samples)
            ]
            alpha = sum(p[3] for p in points)
            rgb = [round(sum(p[c] * p[3] for p in points) / alpha) if alpha else 0 for c in range(3)]
            row += bytes([*rgb, round(alpha / len(points))])
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    (here / "color.png").write_bytes(render(192, color_pixel))
    (here / "outline.png").write_bytes(render(32, outline_pixel))
