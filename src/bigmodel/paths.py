"""Paths a user names, checked before any work starts.

An output path (``--out``, ``--plot``, ``train.out_dir``) is refused in one line when it can
never be written: a name longer than the file system allows, a parent that is a file, a
folder where a file is expected (or a file where a folder is expected), a folder we may not
write into. Checking first means a failed run has not spent minutes before it says so, and
leaves nothing behind.

An input name that the OS cannot even look up (longer than ``NAME_MAX``) is "not found", not
an ``OSError: File name too long`` traceback: :func:`exists` and :func:`is_dir` say False.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .errors import BigModelError

# Most Linux and macOS file systems; os.pathconf gives the real figure where it can.
DEFAULT_NAME_MAX = 255
DEFAULT_PATH_MAX = 4096
_LOOKUP_ERRORS = (errno.ENAMETOOLONG, errno.ENOTDIR, errno.ELOOP, errno.EACCES, errno.EINVAL)


def _limits(existing: Path) -> tuple[int, int]:
    try:
        return (os.pathconf(existing, "PC_NAME_MAX"), os.pathconf(existing, "PC_PATH_MAX"))
    except (OSError, ValueError, AttributeError):
        return DEFAULT_NAME_MAX, DEFAULT_PATH_MAX


def _lead(what: str | None) -> str:
    return f"{what}: " if what else ""


def _short(path: str | Path) -> str:
    text = str(path)
    return text if len(text) <= 80 else f"{text[:40]}...{text[-30:]} ({len(text)} characters)"


def _looked_up(path: str | Path, question: str) -> bool:
    """``Path(path).<question>()``, False for a name the OS refuses to look up."""
    try:
        return getattr(Path(path), question)()
    except OSError as exc:
        if exc.errno in _LOOKUP_ERRORS:
            return False
        raise
    except ValueError:  # an embedded NUL byte
        return False


def exists(path: str | Path) -> bool:
    """``Path.exists`` that says False for a name the OS refuses to look up."""
    return _looked_up(path, "exists")


def is_dir(path: str | Path) -> bool:
    return _looked_up(path, "is_dir")


def is_file(path: str | Path) -> bool:
    return _looked_up(path, "is_file")


def check_name_lengths(path: str | Path, what: str | None) -> None:
    """Each part of ``path`` within NAME_MAX bytes, the whole within PATH_MAX."""
    path = Path(path).expanduser()
    anchor = _nearest_existing(path.absolute())
    name_max, path_max = _limits(anchor)
    for part in path.parts:
        if len(os.fsencode(part)) > name_max:
            raise BigModelError(f"{_lead(what)}the name {_short(part)} is longer than the {name_max} bytes "
                                f"this file system allows")
    if len(os.fsencode(str(path.absolute()))) >= path_max:
        raise BigModelError(f"{_lead(what)}the path {_short(path)} is longer than the {path_max} bytes "
                            f"this system allows")


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if exists(candidate):
            return candidate
    return Path(path.anchor or ".")


def _check_parents(path: Path, what: str | None) -> None:
    absolute = path.absolute()
    for parent in reversed(absolute.parents):
        if exists(parent) and not is_dir(parent):
            raise BigModelError(f"{_lead(what)}{_short(path)} cannot be created: {_short(parent)} is a file, "
                                f"not a folder")
    anchor = _nearest_existing(absolute.parent)
    if is_dir(anchor) and not os.access(anchor, os.W_OK | os.X_OK):
        raise BigModelError(f"{_lead(what)}cannot write into {_short(anchor)} (permission denied)")


def check_output_file(path: str | Path, what: str | None) -> Path:
    """A file we are about to write: its folder can exist, and it is not itself a folder."""
    if str(path).strip() == "":
        raise BigModelError(f"{_lead(what)}the path is empty")
    check_name_lengths(path, what)
    target = Path(path).expanduser()
    if is_dir(target):
        raise BigModelError(f"{_lead(what)}{_short(target)} is a folder; give a file name")
    _check_parents(target, what)
    return target


def check_output_dir(path: str | Path, what: str | None) -> Path:
    """A folder we are about to create or fill: not a file, and its parents can be folders."""
    if str(path).strip() == "":
        raise BigModelError(f"{_lead(what)}the path is empty")
    check_name_lengths(path, what)
    target = Path(path).expanduser()
    if exists(target) and not is_dir(target):
        raise BigModelError(f"{_lead(what)}{_short(target)} is a file; give a folder")
    _check_parents(target, what)
    if is_dir(target) and not os.access(target, os.W_OK | os.X_OK):
        raise BigModelError(f"{_lead(what)}cannot write into {_short(target)} (permission denied)")
    return target


TRUST_EXTERNAL_ENV = "BIGMODEL_TRUST_EXTERNAL_FILES"


def trust_external_files() -> bool:
    """True when the user opted in (``BIGMODEL_TRUST_EXTERNAL_FILES=1``) to files outside a model folder."""
    return os.environ.get(TRUST_EXTERNAL_ENV, "0").lower() in ("1", "true", "yes", "on")


def check_inside(folder: str | Path, file: str | Path, what: str, *, trust: bool = False) -> Path:
    """``folder / file`` when it resolves inside ``folder``, else one line naming the opt-in.

    A model folder is read as a unit: a symlink or an index entry (``../x``, ``/abs/x``) that
    leads elsewhere could make loading read any file the server may read. The one layout
    allowed as is: a Hugging Face cache snapshot, whose files link into the same repository's
    ``blobs/`` folder.
    """
    folder = Path(folder)
    target = folder / file
    if trust or trust_external_files():
        return target
    base = folder.resolve()
    real = target.resolve()
    allowed = [base]
    if base.parent.name == "snapshots":
        allowed.append(base.parent.parent / "blobs")
    if not any(real == root or root in real.parents for root in allowed):
        raise BigModelError(f"{what} {_short(file)} in {_short(folder)} resolves to {_short(real)}, outside the "
                            f"model folder; refused (set {TRUST_EXTERNAL_ENV}=1 or pass "
                            f"trust_external_files=True to allow it)")
    return target


def too_long_error(exc: OSError, what: str = "a file name") -> BigModelError | None:
    """The one-line error for an ``OSError: File name too long``, else None."""
    if exc.errno != errno.ENAMETOOLONG:
        return None
    name = exc.filename if exc.filename is not None else "?"
    return BigModelError(f"{what} is too long for the operating system: {_short(os.fsdecode(name))}")


__all__ = [
    "TRUST_EXTERNAL_ENV",
    "check_inside",
    "check_name_lengths",
    "check_output_dir",
    "check_output_file",
    "exists",
    "is_dir",
    "is_file",
    "too_long_error",
    "trust_external_files",
]
