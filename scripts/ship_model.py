"""Copy a trained run into src/bigmodel/assets/models/NAME (weights + tokenizer + a README).

    python scripts/ship_model.py runs/tiny-gpt-en tiny-gpt-en configs/tiny-gpt-en.toml

Only the files a loader needs travel (config.json, model.safetensors, tokenizer files); the
README records the recipe, the command and the last validation figures from metrics.jsonl.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "src" / "bigmodel" / "assets" / "models"
FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
         "special_tokens_map.json", "vocab.json", "merges.txt", "vocab.txt")
LIMIT = 25 * 1024 * 1024


def main(run: str, name: str, recipe: str) -> int:
    source, target = Path(run), ASSETS / name
    rows = [json.loads(line) for line in (source / "metrics.jsonl").read_text().splitlines()]
    validation = [r for r in rows if r.get("split") == "validation"][-1]
    steps = max(r["step"] for r in rows)
    tmp = target.with_name(f".{name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for file in FILES:
        if (source / file).is_file():
            shutil.copyfile(source / file, tmp / file)
            (tmp / file).chmod(0o644)
    figures = ", ".join(f"{k} {v:.4g}" for k, v in validation.items() if isinstance(v, float))
    (tmp / "README.md").write_text(
        f"# {name}\n\nTrained by bigmodel with `{recipe}` ({steps} optimizer steps):\n\n"
        f"    bigmodel train {recipe}\n\n(the corpus and tokenizer commands are at the top of the recipe)."
        f"\n\nValidation at the end: {figures}.\n\nLoad it offline: `bm.load(\"{name}\")`.\n",
        encoding="utf-8",
    )
    too_big = [p.name for p in tmp.iterdir() if p.stat().st_size > LIMIT]
    if too_big:
        shutil.rmtree(tmp)
        print(f"error: {too_big} exceed 25 MB", file=sys.stderr)
        return 2
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    print(f"shipped {name}: {figures}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
