"""GPT-2 124M (random weights) decoding in bf16 at batch 1 with bigmodel's native bf16 kernel
against torch's matrix-vector product: tokens/s in one process, and how many greedy tokens each
shares with ``F.linear`` everywhere and with transformers in bf16.

    PYTHONPATH=src .venv/bin/python benchmarks/bf16_decode.py [--threads 1] [--new-tokens 128]
        [--reps 5]

The same random GPT2LMHeadModel as ``benchmarks/generate.py`` (seed 0), the same 8-token prompt.
The row-1 kernel of every linear layer is forced (instead of measured): ``native_bf16`` on one
side, ``mv`` on the other (torch.mv: what the kernel cache chose before the native kernel
existed, as ``addmv`` for the layers with a bias, which measured the same), every other row
count ``F.linear``. The two sides alternate ``--reps`` times in the same process, the order
flipping each repetition, and medians are reported, so load from other processes hits both alike.
The largest logit difference is against a teacher-forced ``F.linear`` pass over the same tokens.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from generate import interleaved  # noqa: E402  (benchmarks/generate.py)

import bigmodel as bm  # noqa: E402
from bigmodel.decoding import generate  # noqa: E402
from bigmodel.nn import kernel_cache, kernel_choice, linear_kernels  # noqa: E402

PROMPT_LEN = 8


def _decode(model: torch.nn.Module, prompt: torch.Tensor, n: int) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """(greedy tokens, the logits decoding saw at each step, F.linear's teacher-forced logits of
    the same tokens), logits (n, vocab) in fp32."""
    seen: list[torch.Tensor] = []

    def record(input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        seen.append(scores.float().clone())
        return scores

    out = generate(model, prompt, max_new_tokens=n, eos_token_id=None, logits_processor=[record])
    setting = os.environ.get(kernel_cache.ENV)
    os.environ[kernel_cache.ENV] = "off"
    with torch.inference_mode():
        forced = model(out).logits[0, PROMPT_LEN - 1:-1].float()
    os.environ[kernel_cache.ENV] = setting or ""
    return out[0, PROMPT_LEN:].tolist(), torch.cat(seen), forced


def _force_at_one_row(winner: str) -> None:
    """Make ``winner`` the choice at one row (F.linear elsewhere) from the next generation on."""
    def rigged(weight: torch.Tensor, bias: torch.Tensor | None, rows: int) -> dict[str, float]:
        names = [c.name for c in linear_kernels.candidates_for(rows, weight.dtype, bias is not None)]
        return {name: (0.5 if name == winner and rows == 1 else 1.0) for name in names}

    kernel_choice.measure = rigged  # type: ignore[assignment]
    kernel_cache.forget_tables()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import transformers

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()
    hf.generation_config.eos_token_id = None
    hf.generation_config.pad_token_id = 0
    with tempfile.TemporaryDirectory() as folder:
        hf.save_pretrained(folder)
        ours = bm.load(folder).to(torch.bfloat16)
    hf = hf.to(torch.bfloat16)
    prompt = torch.randint(0, 50000, (1, PROMPT_LEN), generator=torch.Generator().manual_seed(1))
    n = args.new_tokens
    os.environ[kernel_cache.ENV] = "memory"
    sides = ("native_bf16", "mv")
    if not linear_kernels.offered("native_bf16", 1, torch.bfloat16, False):
        raise SystemExit("the native bf16 kernel is not available here (no compiler or no AVX-512 BF16)")

    def run(side: str, tokens: int = n) -> Callable[[], object]:
        def decode() -> object:
            _force_at_one_row(side)
            return generate(ours, prompt, max_new_tokens=tokens, eos_token_id=None)
        return decode

    medians = interleaved(run(sides[0]), run(sides[1]), args.reps, warm=(run(sides[0], 4), run(sides[1], 4)))
    speeds = {side: n / seconds for side, seconds in zip(sides, medians, strict=True)}
    print(f"{kernel_cache.cpu_description()[0]}, torch {torch.__version__}, {args.threads} thread(s), "
          f"median of {args.reps}, {n} new tokens, load {os.getloadavg()[0]:.2f}")
    print(f"decode b1 bf16: native_bf16 {speeds['native_bf16']:.1f} tok/s, mv {speeds['mv']:.1f} tok/s "
          f"({speeds['native_bf16'] / speeds['mv']:.2f}x)")

    _force_at_one_row("native_bf16")
    chosen, seen, forced = _decode(ours, prompt, n)
    _force_at_one_row("mv")
    with_mv, _, _ = _decode(ours, prompt, n)
    os.environ[kernel_cache.ENV] = "off"
    reference, seen_ref, forced_ref = _decode(ours, prompt, n)
    with torch.inference_mode():
        theirs = hf.generate(prompt, max_new_tokens=n, do_sample=False)[0, PROMPT_LEN:].tolist()

    def same(a: list[int], b: list[int]) -> str:
        return f"{sum(x == y for x, y in zip(a, b, strict=True))}/{n}"

    print(f"greedy tokens of native_bf16 equal to: F.linear {same(chosen, reference)}, mv {same(chosen, with_mv)}, "
          f"transformers bf16 {same(chosen, theirs)} (F.linear to transformers: {same(reference, theirs)})")
    print(f"largest |logit difference| from a teacher-forced F.linear pass over the same tokens: "
          f"native_bf16 {float((seen - forced).abs().max()):.3f}, F.linear decoding "
          f"{float((seen_ref - forced_ref).abs().max()):.3f} (logits up to {float(forced.abs().max()):.1f})")


if __name__ == "__main__":
    main()
