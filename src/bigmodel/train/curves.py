"""A loss-curve PNG with no plotting library: a raster, two polylines, axis numbers.

Training loss is blue, validation loss orange (dots joined). Axis labels use a 3×5 pixel
digit font scaled ×2: the y axis shows the min and max loss, the x axis the first and last
step. The PNG is written by hand (zlib-compressed RGB scanlines) to keep dependencies at zero.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..fileio import atomic_write

WIDTH, HEIGHT = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 20, 40
BLUE = (31, 119, 180)
ORANGE = (255, 127, 14)
GREY = (90, 90, 90)

# 3 columns × 5 rows per glyph, row-major bits.
_FONT = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", ".": "000000000000010", "-": "000000111000000",
    "e": "000111101110011", "k": "100101110101101",
}


def _text(img: np.ndarray, x: int, y: int, text: str, scale: int = 2) -> None:
    for ch in text:
        bits = _FONT.get(ch)
        if bits:
            for r in range(5):
                for c in range(3):
                    if bits[r * 3 + c] == "1":
                        img[y + r * scale:y + (r + 1) * scale, x + c * scale:x + (c + 1) * scale] = GREY
        x += 4 * scale


def _line(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, color: tuple[int, int, int]) -> None:
    n = int(max(abs(x1 - x0), abs(y1 - y0), 1)) * 2
    xs = np.linspace(x0, x1, n + 1).round().astype(int)
    ys = np.linspace(y0, y1, n + 1).round().astype(int)
    for dx, dy in ((0, 0), (1, 0), (0, 1)):  # 2-pixel pen
        img[np.clip(ys + dy, 0, HEIGHT - 1), np.clip(xs + dx, 0, WIDTH - 1)] = color


def _format(value: float) -> str:
    if value >= 10000:
        return f"{value / 1000:.0f}k"
    return f"{value:.3g}"


def render(train: Sequence[tuple[float, float]], validation: Sequence[tuple[float, float]] = ()) -> np.ndarray:
    """(HEIGHT, WIDTH, 3) uint8 image of the curves; points are (step, loss)."""
    img = np.full((HEIGHT, WIDTH, 3), 255, dtype=np.uint8)
    points = [p for p in list(train) + list(validation) if np.isfinite(p[1])]
    if not points:
        return img
    steps = [p[0] for p in points]
    losses = [p[1] for p in points]
    x_lo, x_hi = min(steps), max(steps)
    y_lo, y_hi = min(losses), max(losses)
    x_hi = x_hi if x_hi > x_lo else x_lo + 1
    y_hi = y_hi if y_hi > y_lo else y_lo + 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def to_px(step: float, loss: float) -> tuple[float, float]:
        return LEFT + (step - x_lo) / (x_hi - x_lo) * plot_w, TOP + (y_hi - loss) / (y_hi - y_lo) * plot_h

    img[TOP:HEIGHT - BOTTOM + 1, LEFT] = GREY
    img[HEIGHT - BOTTOM, LEFT:WIDTH - RIGHT] = GREY
    for series, color in ((train, BLUE), (validation, ORANGE)):
        pts = [to_px(s, v) for s, v in series if np.isfinite(v)]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
            _line(img, x0, y0, x1, y1, color)
        for x, y in pts if color == ORANGE else pts[:1]:
            img[max(0, int(y) - 2):int(y) + 3, max(0, int(x) - 2):int(x) + 3] = color
    _text(img, 4, TOP, _format(y_hi))
    _text(img, 4, HEIGHT - BOTTOM - 10, _format(y_lo))
    _text(img, LEFT, HEIGHT - BOTTOM + 8, _format(x_lo))
    label = _format(x_hi)
    _text(img, WIDTH - RIGHT - 8 * len(label), HEIGHT - BOTTOM + 8, label)
    return img


def encode_png(img: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 image: signature, IHDR, one IDAT, IEND."""
    height, width, _ = img.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + img[row].tobytes() for row in range(height))  # filter 0 per scanline
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def plot_losses(path: str | Path, train: Sequence[tuple[float, float]],
                validation: Sequence[tuple[float, float]] = ()) -> Path:
    data = encode_png(render(train, validation))
    return atomic_write(path, lambda p: Path(p).write_bytes(data))


__all__ = ["encode_png", "plot_losses", "render"]
