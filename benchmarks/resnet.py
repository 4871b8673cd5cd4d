"""ResNet forward throughput: bigmodel beside transformers' ResNetForImageClassification.

Both run the same weights (a transformers model with random weights and non-trivial BatchNorm
statistics, saved and loaded into bigmodel), in eval mode under torch.inference_mode, on
(batch, 3, size, size) inputs. Timings alternate between the two so that both see the same
machine load; medians are reported. The matmul peak is a 2048² matmul in the same dtype,
measured in the same run, and "of peak" is the model's FLOP/s over that peak, with
FLOPs = 2 · multiply-adds of every conv and linear layer (BatchNorm, ReLU, pooling not counted).

    PYTHONPATH=src .venv/bin/python benchmarks/resnet.py
    PYTHONPATH=src .venv/bin/python benchmarks/resnet.py --models resnet18 --dtypes bf16 --reps 5 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from typing import Any

import torch
from torch import nn

import bigmodel as bm
from bigmodel.models.resnet import RESNET_PRESETS

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def transformers_model(name: str) -> nn.Module:
    import transformers

    preset = RESNET_PRESETS[name]
    config = transformers.ResNetConfig(embedding_size=64, hidden_sizes=list(preset["hidden_sizes"]),
                                       depths=list(preset["depths"]), layer_type=preset["block"], num_labels=1000)
    model = transformers.ResNetForImageClassification(config)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
    return model.eval()


def forward_flops(model: nn.Module, pixels: torch.Tensor) -> float:
    """2 · multiply-adds of the convs and linears for one forward of ``pixels``."""
    total = 0.0

    def conv_hook(module: nn.Conv2d, _: Any, out: torch.Tensor) -> None:
        nonlocal total
        k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
        total += 2.0 * k * out.numel()

    def linear_hook(module: nn.Linear, _: Any, out: torch.Tensor) -> None:
        nonlocal total
        total += 2.0 * module.in_features * out.numel()

    handles = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    handles += [m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.inference_mode():
        model(pixels)
    for handle in handles:
        handle.remove()
    return total


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times)


def timed(model: nn.Module, pixels: torch.Tensor) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        model(pixels)
    return time.perf_counter() - start


def bench(name: str, dtypes: list[str], batch: int, size: int, reps: int) -> list[dict[str, Any]]:
    hf = transformers_model(name)
    with tempfile.TemporaryDirectory() as folder:
        hf.save_pretrained(folder)
        ours = bm.load(folder)
    pixels32 = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        difference = (ours(pixels32[:2]).logits - hf(pixels32[:2]).logits).abs().max().item()
    # counted on transformers' modules: ours folds BatchNorm into F.conv2d calls, which
    # module hooks do not see; the convolutions are the same.
    flops = forward_flops(hf, pixels32)
    rows = []
    for dtype_name in dtypes:
        dtype = DTYPES[dtype_name]
        hf_d, ours_d = hf.to(dtype), ours.to(dtype)
        pixels = pixels32.to(dtype)
        peak = matmul_peak(dtype)
        for model in (ours_d, hf_d):  # warm-up: oneDNN picks and caches its kernels
            timed(model, pixels)
        ours_t, hf_t = [], []
        for _ in range(reps):
            ours_t.append(timed(ours_d, pixels))
            hf_t.append(timed(hf_d, pixels))
        ours_s, hf_s = statistics.median(ours_t), statistics.median(hf_t)
        rows.append({
            "model": name, "dtype": dtype_name, "batch": batch, "size": size,
            "bigmodel_img_s": batch / ours_s, "transformers_img_s": batch / hf_s, "ratio": hf_s / ours_s,
            "gflop_per_image": flops / batch / 1e9, "matmul_peak_gflop_s": peak / 1e9,
            "bigmodel_of_peak": flops / ours_s / peak, "transformers_of_peak": flops / hf_s / peak,
            "max_logit_difference_fp32": difference,
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "resnet50"], choices=sorted(RESNET_PRESETS))
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=sorted(DTYPES))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [row for name in args.models for row in bench(name, args.dtypes, args.batch, args.size, args.reps)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, {args.size}×{args.size}, "
          f"median of {args.reps}")
    print(f"{'model':<10} {'dtype':<5} {'bigmodel':>9} {'transformers':>12} {'ratio':>6} "
          f"{'GFLOP/img':>9} {'peak GFLOP/s':>12} {'ours/peak':>9} {'theirs/peak':>11}")
    for r in rows:
        print(f"{r['model']:<10} {r['dtype']:<5} {r['bigmodel_img_s']:>9.1f} {r['transformers_img_s']:>12.1f} "
              f"{r['ratio']:>5.2f}× {r['gflop_per_image']:>9.2f} {r['matmul_peak_gflop_s']:>12.0f} "
              f"{r['bigmodel_of_peak']:>9.0%} {r['transformers_of_peak']:>11.0%}")
    print("img/s: images per second; ratio: transformers' time / bigmodel's time (> 1: bigmodel faster)")


if __name__ == "__main__":
    main()
