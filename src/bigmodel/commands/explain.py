"""`bigmodel explain`: attention maps, integrated gradients or the logit lens for one text."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..devices import add_device_argument
from ..errors import BigModelError
from . import add_parser, output_file, positive_int, print_json

KINDS = ("attention", "attribution", "logit-lens")
EXAMPLES = """\
  bigmodel explain "The cat sat on the mat." --model all-minilm-l6-v2 --kind attention --out attn.png
  bigmodel explain "The cat sat on the mat." --model all-minilm-l6-v2 --layer 2 --out heads.png
  bigmodel explain "The cat sat" --model tiny-gpt-en --kind attention --layer 0 --head 1 --out head.png
  bigmodel explain "great phone" --model runs/sentiment --kind attribution --out ig.html
  bigmodel explain "The capital of France is" --model gpt2 --kind attribution --target " Paris" --out ig.png
  bigmodel explain "The capital of France is" --model gpt2 --kind logit-lens --out lens.txt
"""


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def register(subparsers: Any) -> None:
    parser = add_parser(subparsers, "explain",
                        "explain a model on one text: attention maps, integrated gradients, logit lens",
                        EXAMPLES)
    parser.add_argument("text", help="the text to explain")
    parser.add_argument("-m", "--model", required=True, help="preset, model folder or HF id")
    parser.add_argument("--kind", default="attention", choices=KINDS)
    parser.add_argument("-o", "--out", required=True, type=output_file,
                        help="output file: .png or .json (attention), .png/.html/.json (attribution), "
                             ".txt/.png/.json (logit-lens)")
    parser.add_argument("--layer", type=int, default=None, help="attention: draw this layer's heads")
    parser.add_argument("--head", type=int, default=None, help="attention: with --layer, draw one head")
    parser.add_argument("--layers", type=_int_list, default=None,
                        help="attention: capture only these layers (e.g. 0,5,11)")
    parser.add_argument("--heads", type=_int_list, default=None, help="attention: capture only these heads")
    parser.add_argument("--rollout", action="store_true", help="attention: draw the attention rollout")
    parser.add_argument("--max-tokens", type=positive_int, default=256,
                        help="cut longer texts to this many tokens (default 256)")
    parser.add_argument("--target", default=None,
                        help="attribution: class index or label, or the next token of a GPT "
                             "(default: the model's prediction)")
    parser.add_argument("--steps", type=positive_int, default=64, help="attribution: integration steps")
    parser.add_argument("--baseline", default="zero", choices=["zero", "pad"], help="attribution baseline")
    parser.add_argument("-k", "--top-k", type=positive_int, default=5, help="logit-lens: tokens per layer")
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    add_device_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import importlib

    explain = importlib.import_module("bigmodel.explain")
    from ..tasks.common import get_model, get_tokenizer

    if not args.text.strip():
        raise BigModelError("text is empty; give some words to explain")
    _check_suffix(args.kind, Path(args.out))
    if not Path(args.model).expanduser().exists() and "/" not in args.model:
        from ..registry import require_preset

        require_preset(args.model)  # a mistyped preset name gets "did you mean"
    model = get_model(args.model)
    tokenizer = get_tokenizer(args.model)
    notices, summary = EXPLAINERS[args.kind](explain, model, tokenizer, args)
    for notice in notices:
        print(f"note: {notice}")
    if args.json:
        print_json(summary | {"out": args.out})
    else:
        print(f"wrote {args.out}")
    return 0


Explained = tuple[list[str], dict[str, Any]]  # (notices, summary)


def _attention(explain: Any, model: Any, tokenizer: Any, args: argparse.Namespace) -> Explained:
    """--kind attention: the maps saved to --out."""
    if args.head is not None and args.layer is None:
        raise BigModelError("--head needs --layer as well")
    maps = explain.attention_maps(model, args.text, tokenizer, layers=args.layers, heads=args.heads,
                                  max_tokens=args.max_tokens)
    explain.save_attention(maps, args.out, layer=args.layer, head=args.head,
                           view="rollout" if args.rollout else None)
    return maps.notices, {"tokens": maps.tokens, "layers": maps.layers, "heads": maps.heads}


def _attribution(explain: Any, model: Any, tokenizer: Any, args: argparse.Namespace) -> Explained:
    """--kind attribution: integrated gradients saved to --out (and printed without --json)."""
    attr = explain.integrated_gradients(model, args.text, tokenizer, target=args.target,
                                        steps=args.steps, baseline=args.baseline,
                                        max_tokens=args.max_tokens)
    explain.save_attribution(attr, args.out)
    if not args.json:
        width = max(len(t) for t in attr.tokens)
        print(f"target {attr.target_label!r}: f(x) - f(baseline) = {attr.score - attr.baseline_score:.4f}, "
              f"sum of attributions = {sum(attr.scores):.4f}")
        for token, score in zip(attr.tokens, attr.scores, strict=True):
            print(f"  {token:<{width}}  {score:+.4f}")
    return attr.notices, attr.to_dict()


def _logit_lens(explain: Any, model: Any, tokenizer: Any, args: argparse.Namespace) -> Explained:
    """--kind logit-lens: each layer's top tokens saved to --out (and printed without --json)."""
    lens = explain.logit_lens(model, args.text, tokenizer, top_k=args.top_k, max_tokens=args.max_tokens)
    explain.save_logit_lens(lens, args.out)
    if not args.json:
        print(lens.table())
    return lens.notices, lens.to_dict()


# --kind -> what runs it: (explain module, model, tokenizer, args) -> (notices, summary)
EXPLAINERS = {"attention": _attention, "attribution": _attribution, "logit-lens": _logit_lens}

SUFFIXES = {"attention": (".png", ".json"), "attribution": (".png", ".html", ".htm", ".json"),
            "logit-lens": (".txt", ".png", ".json")}


def _check_suffix(kind: str, out: Path) -> None:
    if out.suffix.lower() not in SUFFIXES[kind]:
        raise BigModelError(f"--out for --kind {kind} must end in {', '.join(SUFFIXES[kind])}, got {out.name!r}")
