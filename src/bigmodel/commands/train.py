"""`bigmodel train CONFIG.toml [key=value ...] [--resume [DIR]]`: the one training loop."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..devices import device_name
from . import add_parser, print_json


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "train",
        "train or fine-tune a model from a TOML recipe (configs/*.toml); key=value overrides it",
        "  bigmodel train configs/tiny-gpt-en.toml\n"
        "  bigmodel train configs/tiny-gpt-en.toml train.max_steps=200 train.lr=1e-3 train.dtype=bf16\n"
        "  bigmodel train configs/tiny-gpt-en.toml --resume            # from OUT_DIR/checkpoints/latest\n"
        "  bigmodel train configs/tiny-gpt-en.toml --device auto       # the GPU if there is one\n"
        "  torchrun --nproc_per_node 2 -m bigmodel train configs/tiny-gpt-en.toml   # DDP (gloo on CPU)\n",
    )
    parser.add_argument("config", help="TOML recipe: [task] [model] [data] [train]")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="override a recipe value, dotted: train.lr=1e-3 model.config.n_layers=2")
    parser.add_argument("--resume", nargs="*", action=_ResumeAction, default=None, metavar=("DIR", "key=value"),
                        help="continue from a checkpoint: the run's latest (no DIR; a run with no checkpoint "
                             "yet starts fresh and says so), `require` (the run's latest, which must exist), "
                             "or a run or checkpoint folder (which must hold one); key=value overrides may "
                             "follow it")
    parser.add_argument("--device", type=device_name, default=None, metavar="DEVICE",
                        help="where the model trains: cpu, cuda, cuda:N, mps or auto (cuda, else mps, else "
                             "cpu); overrides the recipe's train.device (default: cpu). Under torchrun each "
                             "process takes the GPU of its LOCAL_RANK (nccl), or the CPU (gloo)")
    parser.add_argument("--json", action="store_true", help="print the final figures as JSON")
    parser.set_defaults(func=run, claim_extra_words=claim_overrides)


# section.key=value, as training/config.py's apply_overrides reads it
_OVERRIDE = re.compile(r"^[A-Za-z_][\w.-]*=")


def resume_folder_given(value: str) -> bool:
    """Whether the word after --resume is its DIR (or `require`) rather than the first
    override: a key=value word is an override unless a folder of that name exists."""
    return value == "require" or not _OVERRIDE.match(value) or Path(value).is_dir()


def claim_overrides(args: argparse.Namespace, left_over: list[str], words: list[str]) -> list[str]:
    """key=value words argparse left over (they came after a flag) join the overrides, all in
    the order typed (a later value of a key wins); the rest stay unrecognized."""
    overrides = {*(args.overrides or []), *(w for w in left_over if _OVERRIDE.match(w))}
    args.overrides = [w for w in words if w in overrides]
    return [w for w in left_over if not _OVERRIDE.match(w)]


class _ResumeAction(argparse.Action):
    """--resume [DIR] followed by overrides: argparse would take `train.lr=1e-3` as the DIR
    (nargs='?') or refuse a second override, so the words are split here."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        words = list(values or [])
        resume: str | bool = True
        if words and resume_folder_given(words[0]):
            resume = words.pop(0)
        setattr(namespace, self.dest, resume)
        namespace.overrides = [*(getattr(namespace, "overrides", None) or []), *words]


def run(args: argparse.Namespace) -> int:
    from ..training.trainer import train

    result = train(args.config, args.overrides, resume=args.resume, device=args.device)
    if result is None:  # not the main process under torchrun
        return 0
    if args.json:
        print_json(result)
        return 0
    figures = result["validation"] or result["train"]
    shown = ", ".join(f"{k} {v:.4g}" for k, v in figures.items() if isinstance(v, float))
    print(f"step {result['step']}: validation {shown}" if result["validation"] else f"step {result['step']}: {shown}")
    print(f"model saved to {result['out_dir']} (load it with bm.load({result['out_dir']!r}))")
    return 0
