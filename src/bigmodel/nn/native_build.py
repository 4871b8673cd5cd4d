"""Building and loading bigmodel's native CPU kernels (int8 and bf16 / fp32 matrix-vector products, the tanh GELU).

A kernel's C++ source (a string, ``nn/*_cpu_source.py``) is compiled with the system's C++
compiler (``$CXX``, else ``c++`` / ``g++`` / ``clang++``) into ``<cache>/bigmodel/native/
<name>-<hash>.so``, where the hash covers the source, the flags and the compiler's version, so an
edited kernel or another compiler builds afresh (earlier builds of that kernel are removed). It
uses no torch headers (a build takes about 2 s) and is called through ctypes with the tensors'
data pointers. Source and library are written to temporary names and renamed (a killed build
leaves no half-written library); a library that does not load is built again once. Without a
compiler, or off x86-64 Linux, :func:`load_library` gives None and the kernel is not offered.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from ..fileio import atomic_write

# Bytes the native matrix-vector kernels prefetch ahead of their reading position (all their
# streams together): for the int8 kernel on Intel(R) Xeon(R) Processor (2 cores, AMX) 4-8 KiB
# read GPT-2's weights fastest and 1 KiB or none 1.5-2x slower; the bf16 / fp32 kernel took
# the same (two runs at 2 threads on that CPU: 2-16 KiB within 5% of each other, none 3-24% slower).
PREFETCH_BYTES = 8192
FLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-fopenmp")
_lock = threading.Lock()


@functools.cache
def compiler() -> str | None:
    for name in (os.environ.get("CXX", ""), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@functools.cache
def compiler_version(path: str) -> str:
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.splitlines()[0] if done.stdout else ""


def build_folder() -> Path:
    """Where built kernels are kept: the user's cache folder, else a new private temporary one
    (never a shared, guessable path: a library found there is loaded into the process)."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    folder = Path(base).expanduser() / "bigmodel" / "native"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="bigmodel-native-"))


def _compile(path: str, source: Path, target: str) -> None:
    for flags in (FLAGS, tuple(f for f in FLAGS if f != "-fopenmp")):  # no OpenMP: one thread
        done = subprocess.run([path, *flags, str(source), "-o", target], capture_output=True,
                              text=True, timeout=300)
        if done.returncode == 0:
            return
    raise OSError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "compiler failed")


def build(path: str, target: Path, source_text: str, name: str) -> bool:
    """Compile ``source_text`` into ``target`` (atomically); False when that fails."""
    from .kernel_choice import _notices_on

    if _notices_on():
        print(f"bigmodel: building the {name} CPU kernel (once; kept in {target.parent})", file=sys.stderr,
              flush=True)
    source = target.with_suffix(".cpp")
    try:
        atomic_write(source, lambda p: Path(p).write_text(source_text, encoding="utf-8"))
        atomic_write(target, lambda tmp: _compile(path, source, tmp))
    except (OSError, subprocess.SubprocessError):
        return False
    for old in target.parent.glob(f"{name}-*"):  # earlier versions of the kernel (or compilers)
        if old.stem != target.stem and old.suffix in (".so", ".cpp"):
            old.unlink(missing_ok=True)
    return True


def load_library(name: str, source_text: str) -> ctypes.CDLL | None:
    """Kernel ``name``'s library, built from ``source_text`` the first time; None when it cannot
    be had here (not x86-64 Linux, no compiler, a build that fails)."""
    if platform.machine().lower() not in ("x86_64", "amd64") or not sys.platform.startswith("linux"):
        return None
    path = compiler()
    if path is None:
        return None
    digest = hashlib.sha256("\0".join((source_text, *FLAGS, compiler_version(path))).encode()).hexdigest()[:16]
    target = build_folder() / f"{name}-{digest}.so"
    with _lock:
        if not target.exists() and not build(path, target, source_text, name):
            return None
        try:
            return ctypes.CDLL(str(target))
        except OSError:  # unreadable or damaged: built afresh once
            if not build(path, target, source_text, name):
                return None
            try:
                return ctypes.CDLL(str(target))
            except OSError:
                return None
