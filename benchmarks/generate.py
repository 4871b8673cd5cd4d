"""bigmodel vs transformers: GPT-2 124M decoding and prefill on the same random weights.

    PYTHONPATH=src .venv/bin/python benchmarks/generate.py [--reps 3] [--threads 2] [--json]
        [--fresh-kernels] [--llama-bench PATH --gguf-dir DIR]

One random GPT2LMHeadModel(GPT2Config()) is built with transformers, saved, and loaded into
bigmodel, so both run the very same weights. Each case runs both libraries alternately
(interleaved, the order flipping each repetition) and reports medians, so that load from
other processes hits both sides alike. Cases:

- decode: greedy, 128 new tokens after an 8-token prompt, batch 1 (fp32, bf16) and batch 8;
  tokens/s counts new tokens (the short prefill included, for both).
- prefill: one forward of 512 tokens with a KV cache, logits for the last position only
  (at least 9 repetitions whatever --reps says: each is short).
- int8: bigmodel's int8 weight-only model (fp32 activations and bf16 activations):
  tokens/s, and how many of 128 greedy tokens equal the fp32 model's.
- compile (only when asked for in --cases): bigmodel with ``torch.compile``d forward.
- bandwidth: measured read bandwidth (sum of a 512 MiB tensor) and the fraction of the
  memory-bound limit (bandwidth / weight bytes per token) that batch-1 decode reaches.

It prints the CPU model and its relevant flags, the linear kernels ``nn/kernel_choice.py``
chose for GPT-2's shapes, and the time spent measuring them (in the warm-up calls, never in the
timed ones; 0 when the kernel cache already had them, ``--fresh-kernels`` measures afresh in
memory) apart from the compile time. With ``--llama-bench PATH --gguf-dir DIR`` it adds
llama.cpp's tokens/s as a column: ``PATH -m FILE -t THREADS -p 512 -n NEW_TOKENS -o json`` on
each ``*.gguf`` in DIR, matched by the weight type in the file name or llama-bench's
``model_type`` (f32 -> fp32 rows, bf16 -> bf16 rows, q8_0 -> int8 rows; tg -> decode b1,
pp512 -> prefill).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import bigmodel as bm  # noqa: E402
from bigmodel.decoding import generate  # noqa: E402
from bigmodel.nn import kernel_cache, kernel_choice  # noqa: E402
from bigmodel.quantize import quantize_int8  # noqa: E402

PROMPT_LEN = 8
PREFILL_MIN_REPS = 9


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(ours: Callable[[], object], theirs: Callable[[], object], reps: int,
                warm: tuple[Callable[[], object], Callable[[], object]] | None = None) -> tuple[float, float]:
    """Median seconds of each, alternating which goes first, after one (short) warm-up each."""
    for fn in warm or (ours, theirs):
        fn()
    mine, other = [], []
    for rep in range(reps):
        if rep % 2 == 0:
            mine.append(timed(ours))
            other.append(timed(theirs))
        else:
            other.append(timed(theirs))
            mine.append(timed(ours))
    return statistics.median(mine), statistics.median(other)


def weight_bytes(model: torch.nn.Module) -> int:
    seen: set[int] = set()
    total = 0
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total


def read_bandwidth(reps: int) -> float:
    """GB/s of summing a 512 MiB fp32 tensor (median)."""
    big = torch.ones(128 * 1024 * 1024)
    big.sum()
    return big.numel() * 4 / statistics.median(timed(big.sum) for _ in range(max(reps, 3))) / 1e9


def gguf_weight_type(name: str) -> str | None:
    """"fp32", "bf16" or "int8" from a GGUF file name or llama-bench's model_type."""
    text = name.lower().replace("-", "_")
    for marker, kind in (("q8_0", "int8"), ("bf16", "bf16"), ("f32", "fp32"), ("fp32", "fp32")):
        if marker in text:
            return kind
    return None


def llama_cpp_speeds(binary: str, gguf_dir: str, threads: int, new_tokens: int) -> dict[tuple[str, str], float]:
    """(weight type, "decode" | "prefill") -> llama.cpp tokens/s, from ``llama-bench -o json``."""
    speeds: dict[tuple[str, str], float] = {}
    files = sorted(Path(gguf_dir).glob("*.gguf"))
    if not files:
        raise SystemExit(f"error: --gguf-dir: no *.gguf files in {gguf_dir}")
    for path in files:
        command = [binary, "-m", str(path), "-t", str(threads), "-p", "512", "-n", str(new_tokens), "-o", "json"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=True)
            tests = json.loads(done.stdout)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            print(f"llama-bench on {path.name} failed: {exc}", file=sys.stderr)
            continue
        for test in tests:
            kind = gguf_weight_type(path.name) or gguf_weight_type(str(test.get("model_type", "")))
            if kind is None:
                continue
            if test.get("n_gen", 0) > 0 and test.get("n_prompt", 0) == 0:
                speeds[(kind, "decode")] = float(test["avg_ts"])
            elif test.get("n_prompt", 0) == 512 and test.get("n_gen", 0) == 0:
                speeds[(kind, "prefill")] = float(test["avg_ts"])
    return speeds


def llama_cpp_column(case: str, speeds: dict[tuple[str, str], float]) -> float | None:
    """llama.cpp's number for one of our cases (batch-1 decode and prefill only)."""
    if "b8" in case:
        return None
    kind = "int8" if "int8" in case else "bf16" if ("bf16" in case or "bfloat16" in case) else "fp32"
    return speeds.get((kind, "prefill" if case.startswith("prefill") else "decode"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions per case (median)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--cases", default="fp32,bf16,prefill,batch8,int8",
                        help="comma-separated subset of fp32,bf16,prefill,batch8,int8,compile")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--fresh-kernels", action="store_true",
                        help="measure the linear kernels afresh (in memory) instead of using the kernel cache")
    parser.add_argument("--llama-bench", metavar="PATH", help="a llama-bench binary: add llama.cpp's numbers")
    parser.add_argument("--gguf-dir", metavar="DIR", help="the GGUF files of the same weights (for --llama-bench)")
    args = parser.parse_args()
    if bool(args.llama_bench) != bool(args.gguf_dir):
        parser.error("--llama-bench and --gguf-dir go together")
    cases = set(args.cases.split(","))
    torch.set_num_threads(args.threads)
    if args.fresh_kernels:
        os.environ[kernel_cache.ENV] = "memory"
    cpu, flags = kernel_cache.cpu_description()
    llama = llama_cpp_speeds(args.llama_bench, args.gguf_dir, args.threads, args.new_tokens) if args.llama_bench else {}

    import transformers

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()
    hf.generation_config.eos_token_id = None  # always 128 tokens on both sides
    hf.generation_config.pad_token_id = 0
    with tempfile.TemporaryDirectory() as folder:
        hf.save_pretrained(folder)
        ours = bm.load(folder)
    n = args.new_tokens
    g = torch.Generator().manual_seed(1)
    prompt1 = torch.randint(0, 50000, (1, PROMPT_LEN), generator=g)
    prompt8 = torch.randint(0, 50000, (8, PROMPT_LEN), generator=g)
    long_prompt = torch.randint(0, 50000, (1, 512), generator=g)
    rows: list[dict[str, object]] = []
    results: dict[str, object] = {"threads": args.threads, "reps": args.reps, "torch": torch.__version__,
                                  "transformers": transformers.__version__, "cpu": cpu, "cpu_flags": list(flags),
                                  "rows": rows}

    def add(case: str, unit: str, mine: float, theirs: float | None, **extra: object) -> None:
        row = {"case": case, "unit": unit, "bigmodel": round(mine, 1),
               "transformers": None if theirs is None else round(theirs, 1),
               "ratio": None if theirs is None else round(mine / theirs, 2), **extra}
        if llama:
            row["llama_cpp"] = llama_cpp_column(case, llama)
        rows.append(row)
        if not args.json:
            other = "" if theirs is None else f"{theirs:10.1f}   {mine / theirs:5.2f}x"
            if llama:
                value = row["llama_cpp"]
                other = f"{other:<21} {'-' if value is None else f'{value:.1f}':>9}"
            note = "  " + ", ".join(f"{k}={v}" for k, v in extra.items()) if extra else ""
            print(f"{case:<28} {mine:10.1f} {other}  {unit}{note}", flush=True)

    if not args.json:
        print(f"GPT-2 124M random weights, {args.threads} threads, median of {args.reps}; "
              f"torch {torch.__version__}, transformers {transformers.__version__}")
        print(f"CPU: {cpu} ({', '.join(flags) or 'no relevant flags'}); kernel cache: "
              f"{kernel_cache.cache_path(kernel_cache.machine_key()) or kernel_cache.mode()}")
        llama_header = f" {'llama.cpp':>9}" if llama else ""
        print(f"{'case':<28} {'bigmodel':>10} {'transformers':>10}   ratio{llama_header}")

    outputs: dict[str, list[int]] = {}

    def decode_pair(model_ours: torch.nn.Module, model_hf: torch.nn.Module, prompt: torch.Tensor,
                    tokens: int = n):
        def run_ours():
            out = generate(model_ours, prompt, max_new_tokens=tokens, eos_token_id=None)
            outputs["ours"] = out[0, PROMPT_LEN:].tolist()

        def run_hf():
            with torch.inference_mode():
                out = model_hf.generate(prompt, max_new_tokens=tokens, do_sample=False)
            outputs["hf"] = out[0, PROMPT_LEN:].tolist()

        return run_ours, run_hf

    def decode_case(model_ours: torch.nn.Module, model_hf: torch.nn.Module, prompt: torch.Tensor):
        return interleaved(*decode_pair(model_ours, model_hf, prompt), args.reps,
                           warm=decode_pair(model_ours, model_hf, prompt, tokens=4))

    fp32_tokens: list[int] = []
    fp32_tps = None
    if "fp32" in cases:
        mine, theirs = decode_case(ours, hf, prompt1)
        fp32_tokens = outputs["ours"]
        fp32_tps = n / mine
        add("decode b1 fp32", "tok/s", n / mine, n / theirs, same_tokens=outputs["ours"] == outputs["hf"])
    if "bf16" in cases:
        ours16, hf16 = copy.deepcopy(ours).to(torch.bfloat16), copy.deepcopy(hf).to(torch.bfloat16)
        mine, theirs = decode_case(ours16, hf16, prompt1)
        add("decode b1 bf16", "tok/s", n / mine, n / theirs)
        bf16_tps = n / mine
        results["bf16_weight_bytes"] = weight_bytes(ours16)
        del ours16, hf16
    if "prefill" in cases:
        for dtype in (torch.float32, torch.bfloat16):
            m_ours = ours if dtype == torch.float32 else copy.deepcopy(ours).to(dtype)
            m_hf = hf if dtype == torch.float32 else copy.deepcopy(hf).to(dtype)

            def prefill_ours(m=m_ours):
                with torch.inference_mode():
                    return m(long_prompt, kv_cache=m.new_kv_cache(1, 512 + n), logits_to_keep=1).logits

            def prefill_hf(m=m_hf):
                with torch.inference_mode():
                    return m(long_prompt, use_cache=True, logits_to_keep=1).logits

            # a forward takes well under a second: more repetitions, so that load bursts average out
            mine, theirs = interleaved(prefill_ours, prefill_hf, max(args.reps, PREFILL_MIN_REPS))
            add(f"prefill 512 {str(dtype)[6:]}", "tok/s", 512 / mine, 512 / theirs)
    if "batch8" in cases:
        mine, theirs = decode_case(ours, hf, prompt8)
        add("decode b8 fp32", "tok/s", 8 * n / mine, 8 * n / theirs)
        ours16, hf16 = copy.deepcopy(ours).to(torch.bfloat16), copy.deepcopy(hf).to(torch.bfloat16)
        mine, theirs = decode_case(ours16, hf16, prompt8)
        add("decode b8 bf16", "tok/s", 8 * n / mine, 8 * n / theirs)
        del ours16, hf16
    if "int8" in cases:
        if not fp32_tokens:
            fp32_tokens = generate(ours, prompt1, max_new_tokens=n, eos_token_id=None)[0, PROMPT_LEN:].tolist()
        for act in (torch.float32, torch.bfloat16):
            q = quantize_int8(copy.deepcopy(ours).to(act))

            def run_q(q=q):
                return generate(q, prompt1, max_new_tokens=n, eos_token_id=None)

            tokens = run_q()[0, PROMPT_LEN:].tolist()  # (also the warm-up)
            agree = sum(a == b for a, b in zip(tokens, fp32_tokens, strict=True))
            prefix = next((i for i, (a, b) in enumerate(zip(tokens, fp32_tokens, strict=True)) if a != b), n)
            secs = statistics.median(timed(run_q) for _ in range(args.reps))
            add(f"decode b1 int8 ({str(act)[6:]} act)", "tok/s", n / secs, fp32_tps,
                agree_with_fp32=f"{agree}/{n}", same_prefix=prefix)
            results[f"int8_{str(act)[6:]}_weight_bytes"] = weight_bytes(q)
            del q
    if "compile" in cases:
        from bigmodel.decoding.compiled import compile_for_decoding

        for dtype in (torch.float32, torch.bfloat16):
            eager = copy.deepcopy(ours).to(dtype)
            eager_tokens = generate(eager, prompt1, max_new_tokens=n, eos_token_id=None)[0, PROMPT_LEN:].tolist()
            compiled = compile_for_decoding(eager)
            hf_d = hf if dtype == torch.float32 else copy.deepcopy(hf).to(dtype)
            warm_ours, warm_hf = decode_pair(compiled, hf_d, prompt1, tokens=4)
            compile_s = timed(warm_ours)  # the first call compiles
            mine, theirs = interleaved(*decode_pair(compiled, hf_d, prompt1), args.reps, warm=(warm_ours, warm_hf))
            agree = sum(a == b for a, b in zip(outputs["ours"], eager_tokens, strict=True))
            add(f"decode b1 {str(dtype)[6:]} compiled", "tok/s", n / mine, n / theirs,
                compile_seconds=round(compile_s), agree_with_eager=f"{agree}/{n}")
            del compiled, hf_d
    report_kernels(results, ours, args.json)
    bandwidth = read_bandwidth(args.reps)
    results["read_bandwidth_GBps"] = round(bandwidth, 1)
    if fp32_tps is not None:
        per_token = weight_bytes(ours)
        limit = bandwidth * 1e9 / per_token
        results["fp32_limit_tok_s"] = round(limit, 1)
        results["fp32_fraction_of_limit"] = round(fp32_tps / limit, 2)
        if not args.json:
            print(f"read bandwidth {bandwidth:.1f} GB/s; fp32 weights {per_token / 1e9:.3f} GB/token -> limit "
                  f"{limit:.1f} tok/s; batch-1 fp32 decode reaches {fp32_tps / limit:.0%} of it")
    if "bf16" in cases:
        limit16 = bandwidth * 1e9 / results["bf16_weight_bytes"]
        results["bf16_fraction_of_limit"] = round(bf16_tps / limit16, 2)
        if not args.json:
            print(f"bf16: limit {limit16:.1f} tok/s; batch-1 bf16 decode reaches {bf16_tps / limit16:.0%} of it")
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")


def report_kernels(results: dict[str, object], model: torch.nn.Module, quiet: bool) -> None:
    """The kernels chosen for the model's linear shapes, and what measuring them cost."""
    from bigmodel.tasks.kernel_tuning import linear_shapes

    shapes = {f"{o}x{i}" for o, i, _ in linear_shapes(model)}
    entries = kernel_cache.current_table().entries
    chosen = {name: entry["winner"] for name, entry in sorted(entries.items()) if name.split()[1] in shapes}
    results["kernels"] = chosen
    results["kernel_measurement"] = {"entries": kernel_choice.measured["entries"],
                                     "seconds": round(kernel_choice.measured["seconds"], 2)}
    if quiet:
        return
    print(f"kernel measurement: {kernel_choice.measured['entries']} entries in "
          f"{kernel_choice.measured['seconds']:.2f} s (warm-up calls only); compile time is per compiled row")
    for name, winner in chosen.items():
        print(f"  {name:<44} {winner}")


if __name__ == "__main__":
    main()
