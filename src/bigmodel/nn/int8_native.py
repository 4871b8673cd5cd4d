"""The native int8 matrix-vector kernel (``nn/int8_cpu_source.py``): built once, then loaded.

The C++ is compiled with the system's C++ compiler (``$CXX``, else ``c++`` / ``g++`` /
``clang++``) into ``<cache>/bigmodel/native/int8-<hash>.so``, where the hash covers the source,
the flags and the compiler's version, so an edited kernel or another compiler builds afresh. It
uses no torch headers (a build takes about 2 s) and is called through ctypes with the
tensors' data pointers. The file is written to a temporary name and renamed (a killed build
leaves no half-written library), and when it cannot be built (no compiler, not x86-64, a CPU
without AVX-512 VNNI) the kernel is simply unavailable: the int8 layers keep torch's kernels.
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
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from ..fileio import atomic_write
from . import kernel_choice
from .int8_cpu_source import CPP_SOURCE

FLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-fopenmp")
_DTYPES = (torch.float32, torch.bfloat16)
Kernel = Callable[[Tensor], Tensor]
_lock = threading.Lock()


def _compiler() -> str | None:
    for name in (os.environ.get("CXX", ""), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _compiler_version(compiler: str) -> str:
    try:
        done = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30)
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


def _compile(compiler: str, source: Path, target: str) -> None:
    for flags in (FLAGS, tuple(f for f in FLAGS if f != "-fopenmp")):  # no OpenMP: one thread
        done = subprocess.run([compiler, *flags, str(source), "-o", target], capture_output=True,
                              text=True, timeout=300)
        if done.returncode == 0:
            return
    raise OSError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "compiler failed")


def _build(compiler: str, target: Path) -> bool:
    """Compile the kernel into ``target`` (atomically); False when that fails."""
    if kernel_choice._notices_on():
        print(f"bigmodel: building the int8 CPU kernel (once; kept in {target.parent})", file=sys.stderr, flush=True)
    source = target.with_suffix(".cpp")
    try:
        atomic_write(source, lambda p: Path(p).write_text(CPP_SOURCE, encoding="utf-8"))
        atomic_write(target, lambda tmp: _compile(compiler, source, tmp))
    except (OSError, subprocess.SubprocessError):
        return False
    for old in target.parent.glob("int8-*"):  # earlier versions of the kernel (or compilers)
        if old.stem != target.stem and old.suffix in (".so", ".cpp"):
            old.unlink(missing_ok=True)
    return True


@functools.lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The loaded kernel library, building it the first time; None when it is unavailable."""
    if platform.machine().lower() not in ("x86_64", "amd64") or not sys.platform.startswith("linux"):
        return None
    compiler = _compiler()
    if compiler is None:
        return None
    digest = hashlib.sha256("\0".join((CPP_SOURCE, *FLAGS, _compiler_version(compiler))).encode()).hexdigest()[:16]
    target = build_folder() / f"int8-{digest}.so"
    with _lock:
        if not target.exists() and not _build(compiler, target):
            return None
        try:
            lib = ctypes.CDLL(str(target))
        except OSError:  # unreadable or damaged: built afresh once
            if not _build(compiler, target):
                return None
            try:
                lib = ctypes.CDLL(str(target))
            except OSError:
                return None
    if not lib.bm_int8_supported():
        return None
    lib.bm_int8_linear_bound.restype = None
    lib.bm_int8_linear_bound.argtypes = [ctypes.POINTER(_Weights), ctypes.c_void_p, ctypes.c_int, ctypes.c_int64,
                                         ctypes.c_void_p, ctypes.c_int]
    return lib


class _Weights(ctypes.Structure):
    """The C side's ``BmInt8Weights``: one weight's pointers and sizes, bound once."""

    _fields_ = [("q", ctypes.c_void_p), ("out", ctypes.c_int64), ("in_", ctypes.c_int64),
                ("wsum", ctypes.c_void_p), ("s", ctypes.c_void_p), ("b", ctypes.c_void_p),
                ("prefetch", ctypes.c_int64)]


def available() -> bool:
    return library() is not None


def bind_linear(q: Tensor, row_sums: Tensor, scale: Tensor, bias: Tensor | None, prefetch: int) -> Kernel:
    """x -> y (rows, out) = (x qᵀ) · scale + bias, in x's dtype (fp32 or bf16), x (rows, in) on
    the CPU; ``row_sums`` (out,) int32 = q.sum(1), ``scale`` and ``bias`` fp32, all contiguous
    and kept alive by the returned function (their addresses are looked up once, here)."""
    lib = library()
    if lib is None:
        raise RuntimeError("the native int8 kernel is not available on this machine")
    call = lib.bm_int8_linear_bound
    out, width = q.shape
    weights = ctypes.pointer(_Weights(q.data_ptr(), out, width, row_sums.data_ptr(), scale.data_ptr(),
                                      None if bias is None else bias.data_ptr(), prefetch))
    tensors = (q, row_sums, scale, bias)

    def kernel(x: Tensor) -> Tensor:
        if x.dtype not in _DTYPES or x.shape[-1] != width:
            raise TypeError(f"native int8 kernel: x must be fp32 or bf16 (rows, {width}), got {x.dtype} {tuple(x.shape)}")
        x = x.contiguous()
        y = torch.empty(x.shape[0], out, dtype=x.dtype)
        call(weights, x.data_ptr(), x.dtype == torch.bfloat16, x.shape[0], y.data_ptr(), torch.get_num_threads())
        return y

    kernel.tensors = tensors  # type: ignore[attr-defined]  # alive as long as the kernel
    return kernel


def int8_linear(x: Tensor, q: Tensor, row_sums: Tensor, scale: Tensor, bias: Tensor | None,
                prefetch: int) -> Tensor:
    """One call of :func:`bind_linear`'s kernel."""
    return bind_linear(q, row_sums, scale, bias, prefetch)(x)
