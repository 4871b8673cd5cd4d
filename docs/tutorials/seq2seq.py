"""Train a seq2seq Transformer from text files, then use it from Python, the CLI and the server.

    python docs/tutorials/seq2seq.py                  # KJV clauses -> reversed word order (configs/seq2seq-reverse.toml)
    python docs/tutorials/seq2seq.py --tiny           # a toy grammar, seconds
    python docs/tutorials/seq2seq.py --pairs my.tsv   # your source<TAB>target pairs

From the shell, the same steps are:

    python -m bigmodel.data.word_reversal runs/data/kjv-reverse
    bigmodel tokenizer train runs/data/kjv-reverse/train.tsv --kind wordpiece --vocab-size 6000 --out runs/tok/kjv-reverse
    bigmodel train configs/seq2seq-reverse.toml
    bigmodel generate "and god saw the light" --model runs/seq2seq-reverse --num-beams 4
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from pathlib import Path

import bigmodel as bm
from bigmodel.cli import main as bigmodel_cli
from bigmodel.tasks.generation import stream
from bigmodel.tokenization import train_tokenizer
from bigmodel.training.config import load_config
from bigmodel.training.seq2seq import exact_match_accuracy, read_pairs
from bigmodel.training.trainer import train

RECIPE = Path(__file__).resolve().parents[2] / "configs" / "seq2seq-reverse.toml"


def toy_pairs(folder: Path) -> tuple[Path, Path]:
    """Sentences of a small grammar and their words reversed, as train / validation TSV files."""
    rng = random.Random(0)
    words = "the a king cat dog river house moon sees likes finds by near old red".split()
    sentences = sorted({" ".join(rng.choice(words) for _ in range(rng.randint(3, 5))) for _ in range(900)})
    rng.shuffle(sentences)
    files = []
    for name, chosen in (("train", sentences[:-60]), ("validation", sentences[-60:])):
        path = folder / f"{name}.tsv"
        path.write_text("".join(f"{s}\t{' '.join(reversed(s.split()))}\n" for s in chosen), encoding="utf-8")
        files.append(path)
    return files[0], files[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, help="your source<TAB>target .tsv (10%% is held out)")
    parser.add_argument("--out", type=Path, help="where the model goes (default: a temporary folder)")
    parser.add_argument("--tiny", action="store_true", default=bool(os.environ.get("BIGMODEL_TUTORIAL_TINY")))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        out = args.out or work / "model"

        # 1. Pairs in files: one "source<TAB>target" per line (.jsonl with source/target works too).
        if args.pairs:
            lines = args.pairs.read_text(encoding="utf-8").splitlines()
            cut = len(lines) - max(1, len(lines) // 10)
            (work / "train.tsv").write_text("\n".join(lines[:cut]) + "\n", encoding="utf-8")
            (work / "validation.tsv").write_text("\n".join(lines[cut:]) + "\n", encoding="utf-8")
            train_file, valid_file = work / "train.tsv", work / "validation.tsv"
        elif args.tiny:
            train_file, valid_file = toy_pairs(work)
        else:
            from bigmodel.data.word_reversal import write_reversal_files

            print("pairs:", write_reversal_files(work / "pairs"))
            train_file, valid_file = work / "pairs" / "train.tsv", work / "pairs" / "validation.tsv"
        print("example:", read_pairs(valid_file)[0])

        # 2. A WordPiece tokenizer trained on the pairs. It has no BOS/EOS of its own: the seq2seq
        #    run starts the decoder at [CLS] and stops it at [SEP] (transformers' BERT2BERT way);
        #    a BPE from the same command would use <|endoftext|> and pad with <pad>.
        tok = train_tokenizer([train_file], kind="wordpiece", vocab_size=200 if args.tiny else 6000,
                              out_dir=work / "tokenizer", show_progress=False)
        print(f"tokenizer: {len(tok)} tokens, decoder starts at {tok.cls_token}, stops at {tok.sep_token}")

        # 3. Train: the recipe's settings, pointed at these files (tiny: a much smaller model).
        overrides = [f"data.path={train_file}", f"data.validation_path={valid_file}",
                     f"data.tokenizer={work / 'tokenizer'}", f"train.out_dir={out}", "train.progress=false"]
        if args.tiny:
            overrides += ["model.config.d_model=32", "model.config.n_heads=2", "model.config.d_ff=64",
                          "model.config.n_encoder_layers=1", "model.config.n_decoder_layers=1",
                          "model.config.dropout=0.0", "train.max_steps=60", "train.batch_size=32",
                          "train.warmup_steps=5", "train.eval_every=0", "train.eval_batches=2",
                          "train.save_every=0", "train.log_every=20", "train.num_threads=1"]
        result = train(load_config(RECIPE, overrides))
        curve = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        losses = [row["loss"] for row in curve if row["split"] == "train"]
        print(f"{result['step']} steps: training loss {losses[0]:.2f} -> {losses[-1]:.2f}; "
              f"validation {result['validation']}")
        assert losses[-1] < losses[0]

        # 4. Exact match of greedy decoding on held-out pairs (every output word in place).
        model = bm.load(out)
        held_out = read_pairs(valid_file)[: 64 if args.tiny else 1000]
        for beams in (1, 4):
            score = exact_match_accuracy(model, tok, held_out, num_beams=beams)
            print(f"exact match, {beams} beam(s): {score:.1%} of {len(held_out)} held-out pairs")

        # 5. The faces: bm.generate (greedy, beam, sampled), a stream, and the CLI. The text is
        #    the decoder's output alone: an encoder-decoder does not continue its prompt.
        source = held_out[0][0]
        greedy = bm.generate(source, model=str(out), max_new_tokens=20)
        print(f"{source!r} -> greedy {greedy!r}")
        print("  beam 4:", repr(bm.generate(source, model=str(out), max_new_tokens=20, num_beams=4)))
        print("  sampled:", repr(bm.generate(source, model=str(out), max_new_tokens=20, top_p=0.9, seed=0)))
        deltas = list(stream(source, model=str(out), max_new_tokens=20))
        assert "".join(deltas) == greedy
        print("  streamed as", deltas)
        bigmodel_cli(["generate", source, "--model", str(out), "--max-new-tokens", "20", "--json"])
        # bigmodel serve --model <out> answers /v1/completions with the same text (one request at a time).


if __name__ == "__main__":
    main()
