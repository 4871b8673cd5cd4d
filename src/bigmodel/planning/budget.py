"""A memory budget: parse one ("8GB", "16GiB") and list the presets that fit in it."""

from __future__ import annotations

import re
from typing import Any

from ..errors import BigModelError
from .planner import plan
from .sources import model_shape

_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def parse_memory(text: str | int | float) -> int:
    """'8GB' -> 8·10⁹ bytes; 'GiB' units are powers of two; a bare number is bytes."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text <= 0:
            raise BigModelError(f"memory budget must be positive, got {text}")
        return int(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    unit = m.group(2).upper() if m else ""
    if not m or unit not in _UNITS or float(m.group(1)) <= 0:
        raise BigModelError(f"memory budget must look like 8GB, 512MB or 16GiB, got {text!r}")
    return int(float(m.group(1)) * _UNITS[unit])


def fits_in_memory(budget: str | int, **settings: Any) -> list[dict[str, Any]]:
    """Every preset with the memory it needs under ``settings`` and whether it fits."""
    from ..registry import PRESETS

    limit = parse_memory(budget)
    rows = []
    for name in sorted(PRESETS):
        kwargs = dict(settings)
        try:
            if model_shape(name).reads_images:
                kwargs.pop("seq_len", None)  # images: the sequence length does not apply
            p = plan(name, **kwargs)
        except BigModelError as exc:
            rows.append({"model": name, "needs": None, "fits": False, "why": str(exc)})
            continue
        need = p.peak_memory()
        rows.append({"model": name, "needs": need, "fits": need <= limit, "why": ""})
    return rows


__all__ = ["fits_in_memory", "parse_memory"]
