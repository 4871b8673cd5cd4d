"""This machine's speeds, measured once and cached: what the planner's time estimates read.

``bigmodel plan --calibrate`` measures matrix-multiply FLOP/s, the seconds per weight byte of
``F.linear`` at batch 1, 8 and 32 (a decoding step is a chain of such products:
bandwidth-bound at batch 1, more and more compute-bound as the batch grows), and the
framework's fixed cost per decoding step and per layer (timed on a tiny GPT, whose weights
cost nothing). The result is cached in ``$XDG_CACHE_HOME/bigmodel/calibration.json`` for this
CPU and torch version; torch is imported only to measure.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BigModelError
from ..fileio import atomic_write_text, read_json_object


@dataclass
class Calibration:
    """What this machine does per second, measured once by :func:`calibrate`."""

    matmul_flops: dict[str, float]  # dtype -> FLOP/s of a 2048² matrix multiply
    gemv_bandwidth: dict[str, float]  # dtype -> bytes/s streamed by a matrix-vector product
    stream_bandwidth: float  # bytes/s of summing a large tensor
    step_overhead_s: float  # fixed framework cost of one decoding step
    layer_overhead_s: float  # framework cost per layer per decoding step
    threads: int
    machine: str
    torch_version: str
    measured_at: str
    # dtype -> {batch: seconds per weight byte of nn.Linear at that batch}: a decoding step
    # at batch B is a chain of (B, n) x (n, m) products, bandwidth-bound at B = 1 and ever
    # more compute-bound as B grows.
    linear_s_per_byte: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def calibration_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bigmodel" / "calibration.json"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu} x{os.cpu_count()}"


def _median_time(fn: Any, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


# Sizes of the calibration runs (tests shrink them).
_MATMUL_N = 2048
_GEMV_N, _GEMV_COUNT = 4096, 8  # 8 matrices of 4096² = 512 MiB in fp32: no cache holds them
_STREAM_ELEMS = 64 * 1024 * 1024  # 256 MiB
_DECODE_TOKENS = 48
LINEAR_BATCHES = (1, 8, 32)


def _decode_step_time(n_layers: int, tokens: int | None = None) -> float:
    """Seconds per greedy step of a tiny GPT (weights negligible: pure framework cost)."""
    import torch

    from ..models.gpt import GPT, GPTConfig

    tokens = tokens or _DECODE_TOKENS
    torch.manual_seed(0)
    model = GPT(
        GPTConfig(
            vocab_size=256,
            max_seq_len=tokens + 8,
            d_model=64,
            n_layers=n_layers,
            n_heads=2,
            dropout=0.0,
            attn_dropout=0.0,
        )
    ).eval()

    def run() -> None:
        cache = model.new_kv_cache(1, tokens + 2)
        ids = torch.zeros(1, 1, dtype=torch.long)
        with torch.inference_mode():
            for _ in range(tokens):
                logits = model(ids, kv_cache=cache, logits_to_keep=1).logits
                ids = logits[:, -1].argmax(-1, keepdim=True)

    return _median_time(run, 5) / tokens


def _matmul_rates(torch: Any) -> dict[str, float]:
    """dtype -> FLOP/s of an N×N by N×N product (2·N³ FLOPs)."""
    matmul: dict[str, float] = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a = torch.randn(_MATMUL_N, _MATMUL_N).to(dtype)
        c = torch.randn(_MATMUL_N, _MATMUL_N).to(dtype)
        matmul[name] = 2 * _MATMUL_N**3 / _median_time(lambda a=a, c=c: a @ c, 5)
    matmul["fp16"] = matmul["bf16"]
    return matmul


def _linear_curves(torch: Any) -> dict[str, dict[str, float]]:
    """dtype -> {batch: seconds per weight byte} of F.linear over weights no cache holds."""
    import torch.nn.functional as F

    linear: dict[str, dict[str, float]] = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        weights = [torch.randn(_GEMV_N, _GEMV_N).to(dtype) for _ in range(_GEMV_COUNT)]
        nbytes = sum(w.numel() * w.element_size() for w in weights)
        per_batch = {}
        for batch in LINEAR_BATCHES:
            x = torch.randn(batch, _GEMV_N).to(dtype)
            # F.linear, as the models call it: x Wᵀ with W stored (out, in).
            seconds = _median_time(lambda ws=weights, x=x: [F.linear(x, w) for w in ws], 3)
            per_batch[str(batch)] = seconds / nbytes
        linear[name] = per_batch
        del weights
    linear["fp16"] = linear["bf16"]
    return linear


def calibrate(save: bool = True, progress: bool = False) -> Calibration:
    """Time matrix multiplies, weight streaming and decoding overhead (a few seconds)."""
    import torch
    from tqdm import tqdm

    bar = tqdm(total=3, desc="calibrating", unit="step", leave=False, disable=not progress)
    with torch.inference_mode():
        matmul = _matmul_rates(torch)
        bar.update()
        linear = _linear_curves(torch)
        gemv = {name: 1.0 / curve["1"] for name, curve in linear.items()}
        big = torch.ones(_STREAM_ELEMS)
        stream = big.numel() * 4 / _median_time(big.sum, 5)
        del big
        bar.update()
    t1, t5 = _decode_step_time(1), _decode_step_time(5)
    per_layer = max((t5 - t1) / 4, 0.0)
    fixed = max(t1 - per_layer, 0.0)
    bar.update()
    bar.close()
    result = Calibration(
        matmul,
        gemv,
        stream,
        fixed,
        per_layer,
        torch.get_num_threads(),
        _machine(),
        torch.__version__,
        time.strftime("%Y-%m-%dT%H:%M:%S"),
        linear,
    )
    if save:
        atomic_write_text(calibration_path(), json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def _torch_version() -> str:
    """torch's version without importing it (the planner runs without torch)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.__version__
    import importlib.metadata

    return importlib.metadata.version("torch")


def load_calibration() -> Calibration | None:
    """The cached calibration, or None when there is none for this machine and torch."""
    path = calibration_path()
    if not path.is_file():
        return None
    try:
        calibration = Calibration(**read_json_object(path, "calibration cache"))
    except (BigModelError, ValueError, TypeError):  # a broken cache is measured again
        return None
    if calibration.machine != _machine() or calibration.torch_version != _torch_version():
        return None
    return calibration


__all__ = ["LINEAR_BATCHES", "Calibration", "calibrate", "calibration_path", "load_calibration"]
