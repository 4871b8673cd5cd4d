"""Plan a model for your machine: parameters, FLOPs, memory and time from the config alone.

    python docs/tutorials/plan_model.py           # the GPT-2 sizes, training and inference
    python docs/tutorials/plan_model.py --tiny    # the same, fewer models (no weights are read either way)

The same from the shell: ``bigmodel plan gpt2 --seq-len 512`` and ``bigmodel plan --budget-memory 8GB``.
Time estimates appear once ``bigmodel plan --calibrate`` has measured this machine.
"""

from __future__ import annotations

import argparse
import os

import bigmodel as bm
from bigmodel.planning import fits_in_memory, human_bytes, plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", default=bool(os.environ.get("BIGMODEL_TUTORIAL_TINY")))
    args = parser.parse_args()
    names = ["gpt2"] if args.tiny else ["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"]

    # 1. Inference at a 512-token context, fp32 and bf16: weights + KV cache + activations.
    for name in names:
        for dtype in ("fp32", "bf16"):
            p = plan(name, seq_len=512, dtype=dtype)
            print(f"{name:12} {dtype}: {p.parameters['total']:>13,} parameters, "
                  f"inference {human_bytes(p.peak_memory())}")

    # 2. Training adds gradients and AdamW's two moments (4 + 4 + 8 bytes per weight in fp32)
    #    and the activations saved for the backward pass; checkpointing recomputes most of them.
    full = plan("gpt2", batch_size=8, seq_len=512, training=True)
    ckpt = plan("gpt2", batch_size=8, seq_len=512, training=True, checkpointing=True)
    lora = plan("gpt2", batch_size=8, seq_len=512, training=True, lora_rank=8)
    print(f"train gpt2, batch 8 × 512: {human_bytes(full.peak_memory())}, "
          f"with checkpointing {human_bytes(ckpt.peak_memory())}, "
          f"LoRA r=8 {human_bytes(lora.peak_memory())} ({lora.parameters['trainable']:,} trainable)")
    assert ckpt.peak_memory() < full.peak_memory() and lora.peak_memory() < full.peak_memory()

    # 3. The planner's parameter count is exact: it equals the built model's.
    tiny = {"n_layers": 2, "d_model": 64, "n_heads": 4}
    model = bm.create("gpt2", **tiny)
    assert plan(model).parameters["total"] == model.num_parameters()
    print(f"2-layer GPT: planner {plan(model).parameters['total']:,} = model {model.num_parameters():,}")

    # 4. Which presets fit a memory budget (inference in bf16 at each model's full context)?
    rows = fits_in_memory("2GB", dtype="bf16")
    print("fits in 2 GB (bf16):", ", ".join(r["model"] for r in rows if r["fits"]))
    print(full.format())


if __name__ == "__main__":
    main()
