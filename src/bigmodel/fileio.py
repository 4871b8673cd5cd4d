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
