"""What the fast inference paths cost in memory, on GPT-2 124M (random weights).

- fp32, batch 8: the first batched step packs each linear weight into oneDNN's blocked layout
  (``nn/fast_linear.py``); prints the packed bytes and the process's RSS growth.
- bf16, ``compile_for_decoding``: RSS growth from compiling and running the fixed-shape decode
  step (inductor's frozen, pre-packed weights plus the compiler itself), against the weights.

    PYTHONPATH=src .venv/bin/python benchmarks/inference_memory.py
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from loopback import rss_kib  # noqa: E402

import bigmodel as bm  # noqa: E402
from bigmodel.decoding import generate  # noqa: E402
from bigmodel.decoding.compiled import compile_for_decoding  # noqa: E402
from bigmodel.nn.fast_linear import _PACKED  # noqa: E402


def main() -> None:
    torch.set_num_threads(2)
    model = bm.create("gpt2").eval()
    prompts = torch.randint(0, 50000, (8, 8))
    generate(model, prompts[:1], max_new_tokens=2, eos_token_id=None)
    before = rss_kib(os.getpid())
    generate(model, prompts, max_new_tokens=2, eos_token_id=None)
    after = rss_kib(os.getpid())
    packed = sum(p.packed.numel() * 4 for p in _PACKED.values() if p.packed is not None)
    print(f"fp32 batch 8, first step: RSS +{(after - before) / 1024:.0f} MiB; "
          f"{len(_PACKED)} packed weights, {packed / 2**20:.0f} MiB by element count")
    model16 = copy.deepcopy(model).to(torch.bfloat16)
    del model
    generate(model16, prompts[:1], max_new_tokens=130, eos_token_id=None)
    before = rss_kib(os.getpid())
    compile_for_decoding(model16)
    generate(model16, prompts[:1], max_new_tokens=130, eos_token_id=None)
    after = rss_kib(os.getpid())
    weights = sum(t.numel() * t.element_size() for t in model16.parameters())
    print(f"bf16 compiled decoding: RSS +{(after - before) / 1024:.0f} MiB (weights {weights / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
