"""Reading a user's files with one clear error each, and writing files so that a crash never
leaves half of one."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import BigModelError


def read_text(path: str | Path, what: str = "file") -> str:
    """The UTF-8 text of ``path`` (a leading BOM dropped); a missing, folder, unreadable or
    non-UTF-8 file is one BigModelError naming ``what`` and the path."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BigModelError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise BigModelError(f"{what} {path} is a folder, not a file") from None
    except OSError as exc:  # no permission, a name too long for the OS, ...
        raise BigModelError(f"{what} {path} could not be read ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BigModelError(f"{path} is not UTF-8 text (invalid byte 0x{raw[exc.start]:02x} on line "
                            f"{line}); convert it, e.g. iconv -f GBK -t UTF-8") from None


def read_json(path: str | Path, what: str = "file") -> Any:
    """The parsed JSON of ``path``: :func:`read_text`'s errors, or one saying where it is broken."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BigModelError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None


def read_json_object(path: str | Path, what: str = "file") -> dict[str, Any]:
    """:func:`read_json` of a file that must hold one JSON object (a config)."""
    data = read_json(path, what)
    if not isinstance(data, dict):
        raise BigModelError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def atomic_write(target: str | Path, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)``, fsync, then rename onto ``target`` in one step.

    The temporary file sits in the same folder (a rename across file systems is not
    atomic). Readers see the old file or the new one, never a partial write.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        # mkstemp creates 0600; give the file the mode a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(target: str | Path, text: str) -> Path:
    return atomic_write(target, lambda p: Path(p).write_text(text, encoding="utf-8"))


def save_figure(fig: object, target: str | Path, dpi: int = 110) -> Path:
    """Write a matplotlib figure as PNG atomically, then free it."""
    import matplotlib.pyplot as plt

    try:
        return atomic_write(target, lambda p: fig.savefig(p, format="png", dpi=dpi))  # type: ignore[attr-defined]
    finally:
        plt.close(fig)  # type: ignore[arg-type]


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the ``.NAME.*.tmp`` files :func:`atomic_write` leaves when killed mid-write.

    Called when a run starts on ``folder``: nothing else writes there at that moment, so any
    such file is a leftover, never the half of a write in progress.
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for path in folder.glob(".*.tmp"):
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
