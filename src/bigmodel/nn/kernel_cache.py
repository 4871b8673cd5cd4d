"""Where the measured kernel choices are kept: one small JSON file per machine and setting.

The file is ``$XDG_CACHE_HOME/bigmodel/kernels-<hash>.json`` (``~/.cache/bigmodel/`` when
XDG_CACHE_HOME is unset), where the hash is of the *machine key*: the CPU model and the CPU
flags that change which kernel wins, the torch and numpy versions and torch's thread count.
A file whose key differs (another CPU, an upgraded torch, other threads), or that cannot be
read or parsed, is ignored and rebuilt; it is written atomically (``bigmodel/fileio.py``), and
when it cannot be written the choices live in memory for the process.

``BIGMODEL_KERNEL_CACHE`` changes this: a file path (or a folder for the file), ``memory``
(measure, keep the choices in the process only), or ``off`` (no measurement: every linear
layer runs ``F.linear``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import threading
from pathlib import Path
from typing import Any

import torch

from ..errors import BigModelError
from ..fileio import atomic_write_text, read_json

ENV = "BIGMODEL_KERNEL_CACHE"
# Bumped when the meaning of an entry changes: older files are then rebuilt. 2: candidates
# timed in interleaved rounds, fastest call (1 timed them one after another, median).
FORMAT = 2
# The flags that decide between kernels (wide vectors, bf16 dot products, AMX tiles).
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile", "neon", "asimd")


@functools.lru_cache(maxsize=1)
def cpu_description() -> tuple[str, tuple[str, ...]]:
    """(CPU model name, the relevant flags it has), from /proc/cpuinfo where there is one."""
    model, flags = "", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name in ("model name", "hardware", "cpu model") and not model:
                    model = value.strip()
                elif name in ("flags", "features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    model = model or platform.processor() or platform.machine() or "unknown"
    return model, tuple(flag for flag in RELEVANT_FLAGS if flag in flags)


def machine_key() -> dict[str, Any]:
    """What a measured choice depends on; a cache file is valid only for an equal key."""
    import numpy

    model, flags = cpu_description()
    return {"format": FORMAT, "cpu": model, "flags": list(flags), "arch": platform.machine(),
            "torch": torch.__version__, "numpy": numpy.__version__, "threads": torch.get_num_threads()}


def key_hash(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def mode() -> str:
    """``off``, ``memory`` or ``file`` (the default), from BIGMODEL_KERNEL_CACHE."""
    value = os.environ.get(ENV, "").strip()
    return value.lower() if value.lower() in ("off", "memory") else "file"


def cache_path(key: dict[str, Any]) -> Path | None:
    """The file for this key, or None when the choices are not kept in a file."""
    value = os.environ.get(ENV, "").strip()
    if mode() != "file":
        return None
    name = f"kernels-{key_hash(key)}.json"
    if value:
        path = Path(value).expanduser()
        return path / name if path.is_dir() or value.endswith(os.sep) else path
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base).expanduser() / "bigmodel" / name


def read_entries(path: Path, key: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The entries of a cache file, or {} when it is missing, unreadable, bogus or stale."""
    try:
        data = read_json(path, "kernel cache")
    except BigModelError:  # a broken cache is rebuilt, never the user's error
        return {}
    if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("entries"), dict):
        return {}
    return {name: entry for name, entry in data["entries"].items()
            if isinstance(entry, dict) and isinstance(entry.get("winner"), str)}


class KernelTable:
    """The choices for one machine key: entry name -> {"winner": kernel, "seconds": {...}}."""

    def __init__(self, key: dict[str, Any], path: Path | None) -> None:
        self.key, self.path = key, path
        self.entries: dict[str, dict[str, Any]] = read_entries(path, key) if path is not None else {}
        self.lock = threading.Lock()

    def get(self, name: str) -> str | None:
        entry = self.entries.get(name)
        return None if entry is None else entry["winner"]

    def put(self, name: str, entry: dict[str, Any], save: bool = True) -> None:
        self.entries[name] = entry
        if save:
            self.save()

    def save(self) -> bool:
        """Write the file (merged with entries another process wrote meanwhile); False when it
        cannot be written, the choices then staying in memory."""
        if self.path is None:
            return False
        merged = {**read_entries(self.path, self.key), **self.entries}
        text = json.dumps({"key": self.key, "entries": merged}, indent=1, sort_keys=True)
        try:
            atomic_write_text(self.path, text + "\n")
        except OSError:
            return False
        self.entries = merged
        return True


_TABLES: dict[str, KernelTable] = {}
_BY_SETTING: dict[tuple[int, str | None, str | None], KernelTable] = {}
_TABLES_LOCK = threading.Lock()


def current_table() -> KernelTable:
    """The table for this process's machine key and BIGMODEL_KERNEL_CACHE (loaded once)."""
    # What can change within a process; looked up on every new layer of every forward pass.
    setting = (torch.get_num_threads(), os.environ.get(ENV), os.environ.get("XDG_CACHE_HOME"))
    table = _BY_SETTING.get(setting)
    if table is None:
        table = _BY_SETTING[setting] = _table_for_key()
    return table


def _table_for_key() -> KernelTable:
    key = machine_key()
    path = cache_path(key)
    name = f"{key_hash(key)}:{path}"
    table = _TABLES.get(name)
    if table is None:
        with _TABLES_LOCK:
            table = _TABLES.get(name)
            if table is None:
                table = _TABLES[name] = KernelTable(key, path)
    return table


def forget_tables() -> None:
    """Drop the tables held in memory (the next use reads the file again)."""
    with _TABLES_LOCK:
        _TABLES.clear()
        _BY_SETTING.clear()
