"""Ship a run trained on top of a frozen base model: only the tensors that training changed.

    python scripts/ship_on_base.py runs/tiny-bert-en tiny-bert-en configs/tiny-bert-en.toml all-minilm-l6-v2

A tensor equal to the base's (the frozen embeddings and lower layers) is left out, and
config.json gets ``"base_model": BASE`` and ``"base_model_tensors"``: the keys bigmodel's
loader reads from the base instead (bigmodel.hub.read_weights). The folder is then copied as scripts/ship_model.py does.
"""

from __future__ import annotations

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


def trained_tensors(run: Path, base: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    state = load_file(str(run / "model.safetensors"))
    base_state = read_weights(resolve_model_dir(base))
    kept, dropped = {}, []
    for key, tensor in state.items():
        bare = next((key.removeprefix(p) for p in BODY_PREFIXES if key.startswith(p)), key)
        frozen = base_state.get(key, base_state.get(bare))
        if frozen is not None and frozen.shape == tensor.shape and torch.equal(frozen, tensor):
            dropped.append(key)
        else:
            kept[key] = tensor.contiguous()
    return kept, dropped


def main(run: str, name: str, recipe: str, base: str) -> int:
    source = Path(run)
    kept, dropped = trained_tensors(source, base)
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / name
        staged.mkdir()
        for file in (*FILES, "metrics.jsonl"):
            if (source / file).is_file() and file != "model.safetensors":
                shutil.copyfile(source / file, staged / file)
        save_file(kept, str(staged / "model.safetensors"), metadata={"format": "pt"})
        config = json.loads((source / "config.json").read_text(encoding="utf-8"))
        config["base_model"] = base
        config["base_model_tensors"] = dropped
        (staged / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        print(f"{name}: {len(kept)} trained tensors kept, {len(dropped)} equal to {base}'s left out")
        return ship(str(staged), name, recipe)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
