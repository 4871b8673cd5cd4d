"""Writing files so that a crash never leaves half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


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
