"""The preset architectures as plain config dicts (no torch: `bigmodel models` reads them).

The config classes in gpt.py, bert.py and resnet.py fill in every field a dict leaves out.
"""

from __future__ import annotations

GPT_PRESETS: dict[str, dict[str, int]] = {
    "gpt2": dict(n_layers=12, d_model=768, n_heads=12),
    "gpt2-medium": dict(n_layers=24, d_model=1024, n_heads=16),
    "gpt2-large": dict(n_layers=36, d_model=1280, n_heads=20),
    "gpt2-xl": dict(n_layers=48, d_model=1600, n_heads=25),
}

BERT_PRESETS: dict[str, dict[str, int]] = {
    "bert-base-uncased": dict(n_layers=12, d_model=768, n_heads=12, d_ff=3072),
    "bert-large-uncased": dict(n_layers=24, d_model=1024, n_heads=16, d_ff=4096),
    "all-minilm-l6-v2": dict(n_layers=6, d_model=384, n_heads=12, d_ff=1536),
}


def _basic(depths: tuple[int, ...]) -> dict:
    return dict(block="basic", hidden_sizes=(64, 128, 256, 512), depths=depths)


def _bottleneck(depths: tuple[int, ...]) -> dict:
    return dict(block="bottleneck", hidden_sizes=(256, 512, 1024, 2048), depths=depths)


RESNET_PRESETS: dict[str, dict] = {
    "resnet18": _basic((2, 2, 2, 2)),
    "resnet34": _basic((3, 4, 6, 3)),
    "resnet50": _bottleneck((3, 4, 6, 3)),
    "resnet101": _bottleneck((3, 4, 23, 3)),
    "resnet152": _bottleneck((3, 8, 36, 3)),
}

__all__ = ["BERT_PRESETS", "GPT_PRESETS", "RESNET_PRESETS"]
