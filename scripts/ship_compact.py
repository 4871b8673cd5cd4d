"""Ship a run compactly: only the tensors training changed from a base, optionally as bf16.

    python scripts/ship_compact.py runs/tiny-bert-en tiny-bert-en configs/tiny-bert-en.toml \\
        --base all-minilm-l6-v2 --bf16
    python scripts/ship_compact.py runs/tiny-bert-zh tiny-bert-zh configs/tiny-bert-zh.toml --bf16

``--base``: a tensor equal to the base's (frozen embeddings and lower layers) is left out, and
config.json gets ``"base_model": BASE`` and ``"base_model_tensors"``: the keys bigmodel's
loader reads from the base instead (bigmodel.hub.read_weights). ``--bf16`` stores floating
tensors as bfloat16 (half the bytes; the loader copies them into the fp32 model). The folder
is then copied as scripts/ship_model.py does (files a loader needs, a README, ≤ 25 MB each).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from ship_model import FILES  # noqa: E402
from ship_model import main as ship  # noqa: E402

from bigmodel.hub import read_weights, resolve_model_dir  # noqa: E402

BODY_PREFIXES = ("bert.", "transformer.")


def trained_tensors(run: Path, base: str | None) -> tuple[dict[str, torch.Tensor], list[str]]:
    state = load_file(str(run / "model.safetensors"))
    if base is None:
        return state, []
    base_state = read_weights(resolve_model_dir(base))
    kept, dropped = {}, []
    for key, tensor in state.items():
        bare = next((key.removeprefix(p) for p in BODY_PREFIXES if key.startswith(p)), key)
        frozen = base_state.get(key, base_state.get(bare))
        if frozen is not None and frozen.shape == tensor.shape and torch.equal(frozen, tensor):
            dropped.append(key)
        else:
            kept[key] = tensor
    return kept, dropped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("name")
    parser.add_argument("recipe")
    parser.add_argument("--base", help="preset or folder whose unchanged tensors are left out")
    parser.add_argument("--bf16", action="store_true", help="store floating tensors as bfloat16")
    args = parser.parse_args()
    source = Path(args.run)
    kept, dropped = trained_tensors(source, args.base)
    if args.bf16:
        kept = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in kept.items()}
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / args.name
        staged.mkdir()
        for file in (*FILES, "metrics.jsonl"):
            if (source / file).is_file() and file != "model.safetensors":
                shutil.copyfile(source / file, staged / file)
        save_file({k: v.contiguous() for k, v in kept.items()}, str(staged / "model.safetensors"),
                  metadata={"format": "pt"})
        if args.base:
            config = json.loads((source / "config.json").read_text(encoding="utf-8"))
            config |= {"base_model": args.base, "base_model_tensors": dropped}
            (staged / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        print(f"{args.name}: {len(kept)} tensors kept, {len(dropped)} read from the base instead")
        return ship(str(staged), args.name, args.recipe)


if __name__ == "__main__":
    sys.exit(main())
