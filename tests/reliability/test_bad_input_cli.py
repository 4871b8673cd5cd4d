"""A corpus of bad inputs to the CLI: each must end in one `error: ...` line and exit code 2.

Bad files (corrupt, truncated and mis-shaped checkpoints, a pickle that tries to run
code, broken tokenizers, invalid UTF-8, control and bidi characters, a 1 MB line, empty
files, malformed TOML) are built once in a module-scoped folder. Every case must fail
before any large model is loaded.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
from pathlib import Path

import pytest
import torch

from bigmodel.cli import main

torch.set_num_threads(1)

TINY_GPT = Path(__file__).resolve().parents[2] / "src/bigmodel/assets/models/tiny-gpt-en"
PWNED = "bigmodel-pickle-ran"


class Evil:
    """Unpickling this calls os.system: a loader that is not weights_only would run it."""

    def __reduce__(self):
        return (os.system, (f"touch {PWNED}",))


ODD_TEXT = "bell\x07 nul\x00 esc\x1b[31m red del\x7f tab\t cr\r end"
ZERO_WIDTH = "zero\u200bwidth\u200cjoin\u200dbom\ufeffx"
RTL = "\u202eright to left\u202c \u200fשלום\u200e عربي"
MEGABYTE = 1 << 20


def _copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _build(root: Path) -> None:
    (root / "empty.txt").write_bytes(b"")
    (root / "bad_utf8.txt").write_bytes(b"caf\xe9 \xff\xfe broken\n")
    lines = [f"and on day {i} the light was divided from the darkness" for i in range(60)]
    (root / "ok.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "empty_dir").mkdir()
    (root / "labels.csv").write_text("text,label\nhello,pos\n", encoding="utf-8")
    (root / "bad_utf8.csv").write_bytes(b"text,label\n\xff\xfe,pos\n")
    (root / "odd.txt").write_text(ODD_TEXT + "\n" + ZERO_WIDTH + "\n" + RTL + "\n", encoding="utf-8")
    (root / "huge_line.txt").write_text("word " * (MEGABYTE // 5) + "\nsecond line\n", encoding="utf-8")

    # Checkpoints: corrupt, truncated, wrong shapes, wrong architecture, evil pickle.
    weights = (TINY_GPT / "model.safetensors").read_bytes()
    _copy_model(TINY_GPT, root / "truncated")
    (root / "truncated/model.safetensors").write_bytes(weights[: len(weights) // 2])
    _copy_model(TINY_GPT, root / "garbage")
    (root / "garbage/model.safetensors").write_bytes(b"\x00not a safetensors file" * 10)
    _copy_model(TINY_GPT, root / "empty_weights")
    (root / "empty_weights/model.safetensors").write_bytes(b"")
    _copy_model(TINY_GPT, root / "no_weights")
    (root / "no_weights/model.safetensors").unlink()
    _copy_model(TINY_GPT, root / "wrong_shape")
    config = json.loads((TINY_GPT / "config.json").read_text())
    (root / "wrong_shape/config.json").write_text(json.dumps({**config, "n_embd": config["n_embd"] * 2}))
    _copy_model(TINY_GPT, root / "wrong_arch")
    (root / "wrong_arch/config.json").write_text(json.dumps({**config, "model_type": "bert"}))
    _copy_model(TINY_GPT, root / "unknown_type")
    (root / "unknown_type/config.json").write_text(json.dumps({**config, "model_type": "llama9"}))
    _copy_model(TINY_GPT, root / "bad_config_json")
    (root / "bad_config_json/config.json").write_text("{not json")
    _copy_model(TINY_GPT, root / "config_list")
    (root / "config_list/config.json").write_text("[1, 2]")
    _copy_model(TINY_GPT, root / "config_bad_type")
    (root / "config_bad_type/config.json").write_text(json.dumps({**config, "n_layer": "four"}))
    _copy_model(TINY_GPT, root / "no_config")
    (root / "no_config/config.json").unlink()
    for name, payload in {"evil_pickle": Evil(), "pickle_list": [1, 2, 3]}.items():
        folder = _copy_model(TINY_GPT, root / name)
        (folder / "model.safetensors").unlink()
        (folder / "pytorch_model.bin").write_bytes(pickle.dumps(payload))
    _copy_model(TINY_GPT, root / "bad_index")
    (root / "bad_index/model.safetensors").unlink()
    (root / "bad_index/model.safetensors.index.json").write_text('{"weight_map": {"a": "missing.safetensors"}}')

    # Tokenizers: missing files, broken JSON, inconsistent vocab.
    _copy_model(TINY_GPT, root / "tok_missing")
    for name in ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (root / "tok_missing" / name).unlink(missing_ok=True)
    _copy_model(TINY_GPT, root / "tok_broken")
    (root / "tok_broken/tokenizer.json").write_text('{"model": {"type": "BPE", "vocab": ')
    _copy_model(TINY_GPT, root / "tok_inconsistent")
    tok = json.loads((TINY_GPT / "tokenizer.json").read_text())
    tok["model"]["merges"] = ["zz qq"]  # merges naming tokens the vocab lacks
    (root / "tok_inconsistent/tokenizer.json").write_text(json.dumps(tok))

    from PIL import Image

    Image.new("RGB", (8, 8)).save(root / "black.png")

    # TOML recipes: ok.toml is valid (its data exists) so each broken copy fails on its own fault.
    from bigmodel.data.text import prepare_corpus

    prepare_corpus([root / "ok.txt"], str(TINY_GPT), root / "data", split_by="line", show_progress=False)
    recipe = (Path(__file__).resolve().parents[2] / "configs/tiny-gpt-en.toml").read_text()
    recipe = recipe.replace('path = "runs/data/bible-gpt"', f'path = "{root / "data"}"')
    recipe = recipe.replace('out_dir = "runs/tiny-gpt-en"', f'out_dir = "{root / "run"}"')
    recipe = re.sub(r"(?m)^max_steps = \d+$", "max_steps = 2", recipe)
    assert "max_steps = 2\n" in recipe
    recipe = recipe.replace("seq_len = 128", "seq_len = 8").replace("batch_size = 16", "batch_size = 2")
    (root / "ok.toml").write_text(recipe)
    (root / "no_data.toml").write_text(recipe.replace(str(root / "data"), str(root / "no_data")))
    (root / "malformed.toml").write_text("[train\nlr = \n")
    (root / "unknown_key.toml").write_text(recipe.replace("[train]\n", "[train]\nlearning_rat = 1e-3\n"))
    (root / "unknown_section.toml").write_text(recipe + "\n[optimiser]\nname = 'adam'\n")
    (root / "wrong_type.toml").write_text(recipe.replace("max_steps = 2", 'max_steps = "many"'))
    (root / "negative.toml").write_text(recipe.replace("batch_size = 2", "batch_size = -4"))
    (root / "bad_kind.toml").write_text(recipe.replace('kind = "causal_lm"', 'kind = "telepathy"'))
    (root / "bad_model_key.toml").write_text(recipe.replace("n_layers = 4", "n_layerz = 4"))
    (root / "bad_dtype.toml").write_text(recipe.replace('dtype = "fp32"', 'dtype = "fp64"'))
    (root / "empty.toml").write_text("")
    (root / "bad_utf8.toml").write_bytes(b"[train]\nout_dir = \"\xff\xfe\"\n")
    (root / "section_is_value.toml").write_text("train = 3\n")
    _build_reliability_ii(root, config, weights, recipe)


def _build_reliability_ii(root: Path, config: dict, weights: bytes, recipe: str) -> None:
    """Sizes out of range, files outside their folder, an object array, an evil checkpoint."""
    import numpy as np

    for name, changes in {"zero_heads": {"n_head": 0}, "neg_width": {"n_embd": -128},
                          "neg_layers": {"n_layer": -4}, "odd_heads": {"n_head": 3},
                          "zero_vocab": {"vocab_size": 0}}.items():
        _copy_model(TINY_GPT, root / name)
        (root / name / "config.json").write_text(json.dumps({**config, **changes}))
    (root / "outside.safetensors").write_bytes(weights)
    _copy_model(TINY_GPT, root / "link_outside")
    (root / "link_outside/model.safetensors").unlink()
    (root / "link_outside/model.safetensors").symlink_to(root / "outside.safetensors")
    for name, shard in {"index_up": "../outside.safetensors", "index_abs": str(root / "outside.safetensors")}.items():
        _copy_model(TINY_GPT, root / name)
        (root / name / "model.safetensors").unlink()
        index = {"weight_map": {"transformer.wte.weight": shard}}
        (root / name / "model.safetensors.index.json").write_text(json.dumps(index))
    shutil.copytree(root / "data", root / "data_objects")
    np.save(root / "data_objects/train.sentences.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    (root / "objects.toml").write_text(recipe.replace(str(root / "data"), str(root / "data_objects")))
    evil = root / "evil_ckpt"
    evil.mkdir()
    torch.save({"step": Evil()}, evil / "trainer_state.pt")
    torch.save({"optimizer": {}, "scheduler": {}}, evil / "optimizer.pt")


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-input")
    _build(root)
    return root


# (id, argv); "{d}" stands for the folder of bad files.
GENERATE = ["generate", "hello", "--model", "tiny-gpt-en"]
CASES: list[tuple[str, list[str]]] = [
    # --- generate: every option out of type or range
    ("gen-max-new-neg", [*GENERATE, "--max-new-tokens", "-1"]),
    ("gen-max-new-text", [*GENERATE, "--max-new-tokens", "ten"]),
    ("gen-max-new-float", [*GENERATE, "--max-new-tokens", "1.5"]),
    ("gen-temp-neg", [*GENERATE, "--temperature", "-1"]),
    ("gen-temp-nan", [*GENERATE, "--temperature", "nan"]),
    ("gen-temp-text", [*GENERATE, "--temperature", "hot"]),
    ("gen-temp-inf", [*GENERATE, "--temperature", "inf"]),
    ("gen-topk-neg", [*GENERATE, "--top-k", "-5"]),
    ("gen-topk-text", [*GENERATE, "--top-k", "many"]),
    ("gen-topp-big", [*GENERATE, "--top-p", "1.5"]),
    ("gen-topp-neg", [*GENERATE, "--top-p", "-0.1"]),
    ("gen-topp-zero", [*GENERATE, "--top-p", "0"]),
    ("gen-minp-big", [*GENERATE, "--min-p", "2"]),
    ("gen-rep-zero", [*GENERATE, "--repetition-penalty", "0"]),
    ("gen-rep-neg", [*GENERATE, "--repetition-penalty", "-1"]),
    ("gen-ngram-neg", [*GENERATE, "--no-repeat-ngram-size", "-1"]),
    ("gen-beams-zero", [*GENERATE, "--num-beams", "0"]),
    ("gen-beams-text", [*GENERATE, "--num-beams", "two"]),
    ("gen-nret-zero", [*GENERATE, "--num-return-sequences", "0"]),
    ("gen-nret-gt-beams", [*GENERATE, "--num-beams", "2", "--num-return-sequences", "3"]),
    ("gen-early-bogus", [*GENERATE, "--num-beams", "2", "--early-stopping", "maybe"]),
    ("gen-lenpen-text", [*GENERATE, "--length-penalty", "long"]),
    ("gen-seed-text", [*GENERATE, "--seed", "abc"]),
    ("gen-maxtime-neg", [*GENERATE, "--max-time", "-1"]),
    ("gen-dtype-bad", [*GENERATE, "--dtype", "fp64"]),
    ("gen-quant-bad", [*GENERATE, "--quantize", "int4"]),
    ("gen-threads-zero", [*GENERATE, "--threads", "0"]),
    ("gen-threads-text", [*GENERATE, "--threads", "all"]),
    ("gen-unknown-opt", [*GENERATE, "--frobnicate"]),
    ("gen-no-prompt", ["generate", "--model", "tiny-gpt-en"]),
    ("gen-greedy-and-sample", [*GENERATE, "--greedy", "--do-sample"]),
    ("gen-empty-stop", [*GENERATE, "--stop", ""]),
    # --- model names and folders
    ("model-unknown", ["generate", "hi", "--model", "gpt7-ultra"]),
    ("model-typo", ["generate", "hi", "--model", "tiny-gpt-eng"]),
    ("model-traversal", ["generate", "hi", "--model", "../../../etc"]),
    ("model-traversal-id", ["generate", "hi", "--model", "owner/../../etc"]),
    ("model-abs-file", ["generate", "hi", "--model", "/etc/passwd"]),
    ("model-empty-name", ["generate", "hi", "--model", ""]),
    ("model-empty-dir", ["generate", "hi", "--model", "{d}/empty_dir"]),
    ("model-text-file", ["generate", "hi", "--model", "{d}/ok.txt"]),
    ("ckpt-truncated", ["generate", "hi", "--model", "{d}/truncated"]),
    ("ckpt-garbage", ["generate", "hi", "--model", "{d}/garbage"]),
    ("ckpt-empty", ["generate", "hi", "--model", "{d}/empty_weights"]),
    ("ckpt-missing", ["generate", "hi", "--model", "{d}/no_weights"]),
    ("ckpt-wrong-shape", ["generate", "hi", "--model", "{d}/wrong_shape"]),
    ("ckpt-wrong-arch", ["generate", "hi", "--model", "{d}/wrong_arch"]),
    ("ckpt-unknown-type", ["generate", "hi", "--model", "{d}/unknown_type"]),
    ("ckpt-config-json", ["generate", "hi", "--model", "{d}/bad_config_json"]),
    ("ckpt-config-list", ["generate", "hi", "--model", "{d}/config_list"]),
    ("ckpt-config-type", ["generate", "hi", "--model", "{d}/config_bad_type"]),
    ("ckpt-no-config", ["generate", "hi", "--model", "{d}/no_config"]),
    ("ckpt-evil-pickle", ["generate", "hi", "--model", "{d}/evil_pickle"]),
    ("ckpt-pickle-list", ["generate", "hi", "--model", "{d}/pickle_list"]),
    ("ckpt-bad-index", ["generate", "hi", "--model", "{d}/bad_index"]),
    ("gpt-as-bert", ["fill-mask", "a [MASK] b", "--model", "tiny-gpt-en"]),
    ("bert-as-gpt", ["generate", "hi", "--model", "tiny-bert-en"]),
    ("resnet-as-gpt", ["generate", "hi", "--model", "tiny-resnet-digits"]),
    # --- tokenizers
    ("tok-missing", ["generate", "hi", "--model", "{d}/tok_missing"]),
    ("tok-broken", ["generate", "hi", "--model", "tiny-gpt-en", "--tokenizer", "{d}/tok_broken"]),
    ("tok-inconsistent", ["generate", "hi", "--model", "tiny-gpt-en", "--tokenizer", "{d}/tok_inconsistent"]),
    ("tok-unknown", ["generate", "hi", "--model", "tiny-gpt-en", "--tokenizer", "no-such-tokenizer"]),
    ("tok-is-file", ["generate", "hi", "--model", "tiny-gpt-en", "--tokenizer", "{d}/ok.txt"]),
    # --- fill-mask
    ("fill-no-mask", ["fill-mask", "no mask here", "--model", "tiny-bert-en"]),
    ("fill-topk-zero", ["fill-mask", "a [MASK]", "--model", "tiny-bert-en", "--top-k", "0"]),
    ("fill-topk-text", ["fill-mask", "a [MASK]", "--model", "tiny-bert-en", "--top-k", "x"]),
    ("fill-no-text", ["fill-mask", "--model", "tiny-bert-en"]),
    # --- embed
    ("embed-batch-zero", ["embed", "a", "--model", "tiny-bert-en", "--batch-size", "0"]),
    ("embed-file-missing", ["embed", "--model", "tiny-bert-en", "--file", "{d}/nope.txt"]),
    ("embed-file-utf8", ["embed", "--model", "tiny-bert-en", "--file", "{d}/bad_utf8.txt"]),
    ("embed-file-empty", ["embed", "--model", "tiny-bert-en", "--file", "{d}/empty.txt"]),
    ("embed-file-dir", ["embed", "--model", "tiny-bert-en", "--file", "{d}/empty_dir"]),
    ("embed-no-texts", ["embed", "--model", "tiny-bert-en"]),
    ("embed-gpt", ["embed", "a", "--model", "{d}/wrong_arch"]),
    # --- classify
    ("cls-no-model", ["classify", "great"]),
    ("cls-model-missing", ["classify", "great", "--model", "{d}/nope"]),
    ("cls-topk-zero", ["classify", "great", "--model", "tiny-bert-en", "--top-k", "0"]),
    ("cls-maxlen-zero", ["classify", "great", "--model", "tiny-bert-en", "--max-length", "0"]),
    ("cls-batch-text", ["classify", "great", "--model", "tiny-bert-en", "--batch-size", "x"]),
    ("cls-file-utf8", ["classify", "--model", "tiny-bert-en", "--file", "{d}/bad_utf8.txt"]),
    ("cls-gpt", ["classify", "great", "--model", "{d}/evil_pickle"]),
    # --- eval
    ("eval-no-data", ["eval", "--model", "tiny-bert-en"]),
    ("eval-data-missing", ["eval", "--model", "tiny-gpt-en", "--data", "{d}/nope.csv"]),
    ("eval-data-utf8", ["eval", "--model", "tiny-gpt-en", "--data", "{d}/bad_utf8.txt"]),
    ("eval-data-empty", ["eval", "--model", "tiny-gpt-en", "--data", "{d}/empty.txt"]),
    ("eval-csv-utf8", ["eval", "--model", "tiny-gpt-en", "--data", "{d}/bad_utf8.csv"]),
    ("eval-window-zero", ["eval", "--model", "tiny-gpt-en", "--data", "{d}/ok.txt", "--window", "0"]),
    ("eval-bad-model", ["eval", "--model", "{d}/truncated", "--data", "{d}/ok.txt"]),
    # --- classify-image
    ("img-no-model", ["classify-image", "x.png"]),
    ("img-missing-file", ["classify-image", "{d}/nope.png", "--model", "tiny-resnet-digits"]),
    ("img-not-image", ["classify-image", "{d}/ok.txt", "--model", "tiny-resnet-digits"]),
    ("img-empty-file", ["classify-image", "{d}/empty.txt", "--model", "tiny-resnet-digits"]),
    ("img-topk-zero", ["classify-image", "x.png", "--model", "tiny-resnet-digits", "--top-k", "0"]),
    ("img-dtype-bad", ["classify-image", "x.png", "--model", "tiny-resnet-digits", "--dtype", "fp16"]),
    ("img-on-error-bad", ["classify-image", "--eval", "digits", "--model", "tiny-resnet-digits", "--on-error", "ignore"]),
    ("img-eval-missing", ["classify-image", "--eval", "{d}/nope", "--model", "tiny-resnet-digits"]),
    ("img-gpt", ["classify-image", "{d}/black.png", "--model", "tiny-gpt-en"]),
    ("img-broken-model", ["classify-image", "{d}/black.png", "--model", "{d}/truncated"]),
    # --- plan
    ("plan-unknown", ["plan", "gpt7"]),
    ("plan-batch-zero", ["plan", "gpt2", "--batch-size", "0"]),
    ("plan-seq-neg", ["plan", "gpt2", "--seq-len", "-1"]),
    ("plan-dtype", ["plan", "gpt2", "--dtype", "fp64"]),
    ("plan-optimizer", ["plan", "gpt2", "--optimizer", "adam"]),
    ("plan-lora-zero", ["plan", "gpt2", "--lora-rank", "0"]),
    ("plan-budget-unit", ["plan", "--budget-memory", "8XB"]),
    ("plan-budget-neg", ["plan", "--budget-memory", "-8GB"]),
    ("plan-compare-unknown", ["plan", "gpt2", "--compare", "gpt9"]),
    ("plan-folder-bad", ["plan", "{d}/bad_config_json"]),
    # --- explain
    ("explain-no-out", ["explain", "hi", "--model", "tiny-gpt-en"]),
    ("explain-kind", ["explain", "hi", "--model", "tiny-gpt-en", "--kind", "vibes", "--out", "{d}/a.png"]),
    ("explain-out-ext", ["explain", "hi", "--model", "tiny-gpt-en", "--out", "{d}/a.xyz"]),
    ("explain-layer", ["explain", "hi", "--model", "tiny-gpt-en", "--layer", "99", "--out", "{d}/a.json"]),
    ("explain-steps", ["explain", "hi", "--model", "tiny-gpt-en", "--kind", "attribution", "--steps", "0",
                       "--out", "{d}/a.json"]),
    ("explain-maxtok", ["explain", "hi", "--model", "tiny-gpt-en", "--max-tokens", "-3", "--out", "{d}/a.json"]),
    # --- tokenizer train
    ("toktrain-missing", ["tokenizer", "train", "{d}/nope.txt", "--kind", "bpe", "--vocab-size", "300",
                          "--out", "{d}/tok1"]),
    ("toktrain-kind", ["tokenizer", "train", "{d}/ok.txt", "--kind", "unigram", "--vocab-size", "300",
                       "--out", "{d}/tok2"]),
    ("toktrain-vocab-zero", ["tokenizer", "train", "{d}/ok.txt", "--kind", "bpe", "--vocab-size", "0",
                             "--out", "{d}/tok3"]),
    ("toktrain-empty", ["tokenizer", "train", "{d}/empty.txt", "--kind", "bpe", "--vocab-size", "300",
                        "--out", "{d}/tok4"]),
    ("toktrain-utf8", ["tokenizer", "train", "{d}/bad_utf8.txt", "--kind", "wordpiece", "--vocab-size", "300",
                       "--out", "{d}/tok5"]),
    ("toktrain-no-files", ["tokenizer", "train", "--kind", "bpe", "--vocab-size", "300", "--out", "{d}/t"]),
    ("toktrain-bad-action", ["tokenizer", "untrain"]),
    ("toktrain-minfreq-text", ["tokenizer", "train", "{d}/ok.txt", "--kind", "bpe", "--vocab-size", "300",
                               "--out", "{d}/tok6", "--min-frequency", "x"]),
    ("toktrain-out-is-file", ["tokenizer", "train", "{d}/ok.txt", "--kind", "bpe", "--vocab-size", "300",
                              "--out", "{d}/ok.txt"]),
    # --- prepare
    ("prep-no-tokenizer", ["prepare", "{d}/ok.txt", "--out", "{d}/prep1"]),
    ("prep-bad-tokenizer", ["prepare", "{d}/ok.txt", "--tokenizer", "{d}/tok_broken", "--out", "{d}/prep2"]),
    ("prep-missing-file", ["prepare", "{d}/nope.txt", "--tokenizer", "gpt2", "--out", "{d}/prep3"]),
    ("prep-utf8", ["prepare", "{d}/bad_utf8.txt", "--tokenizer", "gpt2", "--out", "{d}/prep4"]),
    ("prep-empty", ["prepare", "{d}/empty.txt", "--tokenizer", "gpt2", "--out", "{d}/prep5"]),
    ("prep-valfrac", ["prepare", "{d}/ok.txt", "--tokenizer", "gpt2", "--out", "{d}/prep6",
                      "--validation-fraction", "1.5"]),
    ("prep-split", ["prepare", "{d}/ok.txt", "--tokenizer", "gpt2", "--out", "{d}/prep7", "--split-by", "word"]),
    # --- train recipes and overrides
    ("train-no-config", ["train"]),
    ("train-missing", ["train", "{d}/nope.toml"]),
    ("train-malformed", ["train", "{d}/malformed.toml"]),
    ("train-unknown-key", ["train", "{d}/unknown_key.toml"]),
    ("train-unknown-section", ["train", "{d}/unknown_section.toml"]),
    ("train-wrong-type", ["train", "{d}/wrong_type.toml"]),
    ("train-negative", ["train", "{d}/negative.toml"]),
    ("train-bad-kind", ["train", "{d}/bad_kind.toml"]),
    ("train-bad-model-key", ["train", "{d}/bad_model_key.toml"]),
    ("train-bad-dtype", ["train", "{d}/bad_dtype.toml"]),
    ("train-empty", ["train", "{d}/empty.toml"]),
    ("train-utf8", ["train", "{d}/bad_utf8.toml"]),
    ("train-section-value", ["train", "{d}/section_is_value.toml"]),
    ("train-config-dir", ["train", "{d}/empty_dir"]),
    ("train-no-data", ["train", "{d}/no_data.toml"]),
    ("train-override-no-eq", ["train", "{d}/ok.toml", "train.lr"]),
    ("train-override-unknown", ["train", "{d}/ok.toml", "train.learning_rate=1e-3"]),
    ("train-override-type", ["train", "{d}/ok.toml", "train.max_steps=lots"]),
    ("train-override-section", ["train", "{d}/ok.toml", "nosuch.key=1"]),
    ("train-resume-missing", ["train", "{d}/ok.toml", "--resume", "{d}/nope"]),
    ("train-resume-empty", ["train", "{d}/ok.toml", "--resume", "{d}/empty_dir"]),
    ("train-resume-file", ["train", "{d}/ok.toml", "--resume", "{d}/ok.txt"]),
    ("train-model-type", ["train", "{d}/ok.toml", "model.config.n_layers=four"]),
    ("train-model-range", ["train", "{d}/ok.toml", "model.config.n_heads=3"]),
    ("train-lr-neg", ["train", "{d}/ok.toml", "train.lr=-1"]),
    # --- serve: refused before binding a port
    ("serve-port-neg", ["serve", "--port", "-1"]),
    ("serve-port-text", ["serve", "--port", "http"]),
    ("serve-port-big", ["serve", "--port", "70000"]),
    ("serve-batch-zero", ["serve", "--max-batch-size", "0"]),
    ("serve-conc-zero", ["serve", "--max-concurrency", "0"]),
    ("serve-body-neg", ["serve", "--max-body-mb", "-1"]),
    ("serve-dtype", ["serve", "--dtype", "fp64", "--model", "tiny-gpt-en"]),
    ("serve-no-model", ["serve"]),
    ("serve-model-traversal", ["serve", "--model", "../../../../etc/passwd"]),
    ("serve-model-broken", ["serve", "--model", "{d}/truncated"]),
    # --- Reliability II: numbers out of range (bigmodel/validation.py)
    ("gen-seed-huge", [*GENERATE, "--seed", str(2**80), "--do-sample"]),
    ("gen-seed-very-negative", [*GENERATE, "--seed", str(-(2**70)), "--do-sample"]),
    ("gen-rep-nan", [*GENERATE, "--repetition-penalty", "nan"]),
    ("gen-rep-inf", [*GENERATE, "--repetition-penalty", "inf"]),
    ("gen-lenpen-nan", [*GENERATE, "--num-beams", "2", "--length-penalty", "nan"]),
    ("gen-maxtime-nan", [*GENERATE, "--max-time", "nan"]),
    ("gen-maxtime-inf", [*GENERATE, "--max-time", "inf"]),
    ("ckpt-zero-heads", ["generate", "hi", "--model", "{d}/zero_heads"]),
    ("ckpt-negative-width", ["generate", "hi", "--model", "{d}/neg_width"]),
    ("ckpt-heads-indivisible", ["generate", "hi", "--model", "{d}/odd_heads"]),
    ("ckpt-zero-vocab", ["embed", "hi", "--model", "{d}/zero_vocab"]),
    ("plan-negative-layers", ["plan", "{d}/neg_layers"]),
    ("plan-zero-heads", ["plan", "{d}/zero_heads"]),
    ("train-beta1-big", ["train", "{d}/ok.toml", "train.beta1=2"]),
    ("train-beta2-neg", ["train", "{d}/ok.toml", "train.beta2=-0.5"]),
    ("train-beta2-one", ["train", "{d}/ok.toml", "train.beta2=1"]),
    ("train-eps-neg", ["train", "{d}/ok.toml", "train.eps=-1"]),
    ("train-eps-zero", ["train", "{d}/ok.toml", "train.eps=0"]),
    ("train-lr-inf", ["train", "{d}/ok.toml", "train.lr=inf"]),
    ("train-lr-nan", ["train", "{d}/ok.toml", "train.lr=nan"]),
    ("train-wd-neg", ["train", "{d}/ok.toml", "train.weight_decay=-0.1"]),
    ("train-minlr-big", ["train", "{d}/ok.toml", "train.min_lr_ratio=1.5"]),
    ("train-clip-neg", ["train", "{d}/ok.toml", "train.max_grad_norm=-1"]),
    ("train-minutes-neg", ["train", "{d}/ok.toml", "train.max_minutes=-5"]),
    ("train-minutes-nan", ["train", "{d}/ok.toml", "train.max_minutes=nan"]),
    ("train-gflops-neg", ["train", "{d}/ok.toml", "train.peak_gflops=-1"]),
    ("train-seed-neg", ["train", "{d}/ok.toml", "train.seed=-1"]),
    ("train-seed-huge", ["train", "{d}/ok.toml", f"train.seed={2**40}"]),
    ("train-heads-zero", ["train", "{d}/ok.toml", "model.config.n_heads=0"]),
    ("train-width-neg", ["train", "{d}/ok.toml", "model.config.d_model=-128"]),
    ("train-layers-zero", ["train", "{d}/ok.toml", "model.config.n_layers=0"]),
    ("train-dropout-big", ["train", "{d}/ok.toml", "model.config.dropout=1.5"]),
    ("train-vocab-small", ["train", "{d}/ok.toml", "model.config.vocab_size=10"]),
    ("serve-body-inf", ["serve", "--max-body-mb", "inf"]),
    ("serve-body-nan", ["serve", "--max-body-mb", "nan"]),
    ("serve-host-unknown", ["serve", "--model", "tiny-gpt-en", "--host", "no-such-host.invalid", "--port", "0"]),
    ("toktrain-vocab-huge", ["tokenizer", "train", "{d}/ok.txt", "--kind", "bpe", "--vocab-size", str(10**12),
                             "--out", "{d}/tok-huge"]),
    # --- names too long for the OS, in every verb that opens a file or a model
    ("long-model-generate", ["generate", "hi", "--model", "m" * 300]),
    ("long-model-path", ["generate", "hi", "--model", "{d}/" + "m" * 300]),
    ("long-model-fill", ["fill-mask", "a [MASK]", "--model", "m" * 300]),
    ("long-model-embed", ["embed", "a", "--model", "{d}/" + "m" * 300]),
    ("long-model-classify", ["classify", "great", "--model", "{d}/" + "m" * 300]),
    ("long-model-plan", ["plan", "{d}/" + "m" * 300]),
    ("long-tokenizer", ["generate", "hi", "--model", "tiny-gpt-en", "--tokenizer", "{d}/" + "t" * 300]),
    ("long-embed-file", ["embed", "--model", "tiny-bert-en", "--file", "{d}/" + "f" * 300 + ".txt"]),
    ("long-eval-data", ["eval", "--model", "tiny-gpt-en", "--data", "{d}/" + "f" * 300 + ".txt"]),
    ("long-image", ["classify-image", "{d}/" + "i" * 300 + ".png", "--model", "tiny-resnet-digits"]),
    ("long-prepare-file", ["prepare", "{d}/" + "f" * 300, "--tokenizer", "gpt2", "--out", "{d}/prep-long"]),
    ("long-toktrain-file", ["tokenizer", "train", "{d}/" + "f" * 300, "--kind", "bpe", "--vocab-size", "300",
                            "--out", "{d}/tok-long"]),
    ("long-train-config", ["train", "{d}/" + "c" * 300 + ".toml"]),
    ("long-resume", ["train", "{d}/ok.toml", "--resume", "{d}/" + "r" * 300]),
    # --- output paths that can never be written (bigmodel/paths.py), refused before any work
    ("out-eval-plot-dir", ["eval", "--model", "tiny-gpt-en", "--data", "{d}/ok.txt", "--plot", "{d}/empty_dir"]),
    ("out-eval-plot-under-file", ["eval", "--model", "tiny-gpt-en", "--data", "{d}/ok.txt",
                                  "--plot", "{d}/ok.txt/cm.png"]),
    ("out-eval-plot-long", ["eval", "--model", "tiny-gpt-en", "--data", "{d}/ok.txt", "--plot", "p" * 300 + ".png"]),
    ("out-img-plot-dir", ["classify-image", "--eval", "{d}/empty_dir", "--model", "tiny-resnet-digits",
                          "--plot", "{d}/empty_dir"]),
    ("out-explain-under-file", ["explain", "hi", "--model", "tiny-gpt-en", "--out", "{d}/ok.txt/a.json"]),
    ("out-explain-dir", ["explain", "hi", "--model", "tiny-gpt-en", "--out", "{d}/empty_dir"]),
    ("out-explain-long", ["explain", "hi", "--model", "tiny-gpt-en", "--out", "{d}/" + "x" * 300 + ".json"]),
    ("out-prepare-file", ["prepare", "{d}/ok.txt", "--tokenizer", "gpt2", "--out", "{d}/ok.txt"]),
    ("out-prepare-under-file", ["prepare", "{d}/ok.txt", "--tokenizer", "gpt2", "--out", "{d}/ok.txt/sub"]),
    ("out-toktrain-under-file", ["tokenizer", "train", "{d}/ok.txt", "--kind", "bpe", "--vocab-size", "300",
                                 "--out", "{d}/ok.txt/tok"]),
    ("out-toktrain-long", ["tokenizer", "train", "{d}/ok.txt", "--kind", "bpe", "--vocab-size", "300",
                           "--out", "{d}/" + "t" * 300]),
    ("out-train-file", ["train", "{d}/ok.toml", "train.out_dir={d}/ok.txt"]),
    ("out-train-under-file", ["train", "{d}/ok.toml", "train.out_dir={d}/ok.txt/run"]),
    ("out-train-long", ["train", "{d}/ok.toml", "train.out_dir={d}/" + "o" * 300]),
    # --- loading: nothing outside the model folder, no pickles, anywhere
    ("load-link-outside", ["generate", "hi", "--model", "{d}/link_outside"]),
    ("load-index-up", ["generate", "hi", "--model", "{d}/index_up"]),
    ("load-index-absolute", ["generate", "hi", "--model", "{d}/index_abs"]),
    ("data-object-array", ["train", "{d}/objects.toml"]),
    ("resume-evil-pickle", ["train", "{d}/ok.toml", "--resume", "{d}/evil_ckpt"]),
    ("fill-mask-cut-off", ["fill-mask", "word " * 600 + "[MASK]", "--model", "tiny-bert-en"]),
    # --- the top level
    ("verb-unknown", ["generat"]),
]


# What the one line must say, for cases where failing for another reason would hide a bug.
EXPECTED: dict[str, str] = {
    "gen-seed-huge": "seed must be an integer in", "gen-rep-nan": "repetition_penalty", "gen-lenpen-nan":
    "length_penalty", "gen-maxtime-nan": "max_time", "ckpt-zero-heads": "n_heads must be",
    "ckpt-negative-width": "d_model must be", "ckpt-heads-indivisible": "divisible", "plan-negative-layers":
    "n_layers must be", "train-beta1-big": "train.beta1", "train-beta2-neg": "train.beta2", "train-eps-neg":
    "train.eps", "train-lr-inf": "train.lr", "train-wd-neg": "train.weight_decay", "train-minlr-big":
    "train.min_lr_ratio", "train-clip-neg": "train.max_grad_norm", "train-minutes-neg": "train.max_minutes",
    "train-gflops-neg": "train.peak_gflops", "train-seed-huge": "train.seed", "train-heads-zero": "n_heads",
    "train-width-neg": "d_model", "train-vocab-small": "vocab_size=10", "serve-body-inf": "--max-body-mb",
    "serve-host-unknown": "does not resolve", "toktrain-vocab-huge": "vocab_size must be at most",
    "long-model-generate": "not found", "long-model-path": "not found", "long-embed-file": "too long",
    "long-eval-data": "too long", "long-image": "too long", "long-train-config": "too long",
    "long-resume": "too long", "out-eval-plot-dir": "is a folder", "out-eval-plot-under-file": "is a file",
    "out-img-plot-dir": "is a folder", "out-explain-under-file": "is a file", "out-prepare-file": "is a file",
    "out-toktrain-long": "longer than", "out-train-file": "train.out_dir", "out-train-under-file":
    "train.out_dir", "out-train-long": "train.out_dir", "load-link-outside": "outside the model folder",
    "load-index-up": "outside the model folder", "load-index-absolute": "outside the model folder",
    "data-object-array": "not a plain integer array", "resume-evil-pickle": "refused to unpickle",
    "fill-mask-cut-off": "beyond the model's",
}


# Odd but valid input: it must work (exit 0) or be refused in one line (exit 2), never crash.
GEN_SHORT = ["--model", "tiny-gpt-en", "--max-new-tokens", "2", "--greedy"]
ODD_CASES: list[tuple[str, list[str]]] = [
    ("gen-control-chars", ["generate", ODD_TEXT, *GEN_SHORT]),
    ("gen-zero-width", ["generate", ZERO_WIDTH, *GEN_SHORT]),
    ("gen-rtl", ["generate", RTL, *GEN_SHORT]),
    ("gen-empty-prompt", ["generate", "", *GEN_SHORT]),
    ("gen-surrogate-argv", ["generate", "caf\udce9", *GEN_SHORT]),
    ("gen-megabyte-prompt", ["generate", "word " * (MEGABYTE // 5), *GEN_SHORT]),
    ("gen-stop-rtl", ["generate", "hello", *GEN_SHORT, "--stop", "\u202e"]),
    ("fill-rtl", ["fill-mask", RTL + " [MASK]", "--model", "tiny-bert-en"]),
    ("fill-surrogate", ["fill-mask", "caf\udce9 [MASK]", "--model", "tiny-bert-en"]),
    ("embed-odd-file", ["embed", "--model", "tiny-bert-en", "--file", "{d}/odd.txt"]),
    ("embed-huge-line", ["embed", "--model", "tiny-bert-en", "--file", "{d}/huge_line.txt"]),
    ("embed-control-arg", ["embed", ODD_TEXT, ZERO_WIDTH, "--model", "tiny-bert-en"]),
    ("prep-odd", ["prepare", "{d}/odd.txt", "--tokenizer", "gpt2", "--split-by", "line", "--out", "{d}/p-odd"]),
    ("prep-huge-line", ["prepare", "{d}/huge_line.txt", "--tokenizer", "gpt2", "--split-by", "line",
                        "--out", "{d}/p-huge"]),
    ("toktrain-huge-line", ["tokenizer", "train", "{d}/huge_line.txt", "--kind", "wordpiece", "--vocab-size", "200",
                            "--out", "{d}/t-huge"]),
    ("explain-rtl", ["explain", RTL, "--model", "tiny-gpt-en", "--out", "{d}/rtl.json"]),
    ("gen-temp-tiny-sample", ["generate", "hello", "--model", "tiny-gpt-en", "--max-new-tokens", "2",
                              "--do-sample", "--temperature", "1e-45"]),
    ("gen-seed-max", ["generate", "hello", "--model", "tiny-gpt-en", "--max-new-tokens", "2", "--do-sample",
                      "--seed", str(2**64 - 1)]),
]


def _run(argv: list[str], root: Path, capsys) -> tuple[int, str]:
    argv = [arg.replace("{d}", str(root)) for arg in argv]
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def _terminal_lines(err: str) -> list[str]:
    # What a terminal shows: a progress bar erased with "\r" before the error is not a line.
    lines = [line.rsplit("\r", 1)[-1] for line in err.split("\n")]
    return [line for line in lines if line.strip()]


def test_corpus_is_large_enough():
    assert len(CASES) >= 100
    assert len({name for name, _ in CASES}) == len(CASES)
    assert set(EXPECTED) <= {name for name, _ in CASES}


@pytest.mark.parametrize(("name", "argv"), CASES, ids=[name for name, _ in CASES])
def test_bad_input_is_one_clear_error(bad, name, argv, capsys, monkeypatch):
    monkeypatch.chdir(bad)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # The once-per-machine kernel measurement notice (nn/kernel_choice.py) is not an error line.
    monkeypatch.setenv("BIGMODEL_KERNEL_NOTICE", "0")
    code, err = _run(argv, bad, capsys)
    assert code == 2, err
    assert "Traceback" not in err
    lines = _terminal_lines(err)
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert len(lines[0]) < 600, f"the error line echoes too much ({len(lines[0])} characters)"
    assert "weights_only=False" not in err
    assert EXPECTED.get(name, "") in lines[0], lines[0]
    assert not (bad / PWNED).exists(), "a pickle ran code while loading a checkpoint"


@pytest.mark.parametrize("argv", [argv for _, argv in ODD_CASES], ids=[name for name, _ in ODD_CASES])
def test_odd_text_works_or_is_refused_in_one_line(bad, argv, capsys, monkeypatch):
    monkeypatch.chdir(bad)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # The once-per-machine kernel measurement notice (nn/kernel_choice.py) is not an error line.
    monkeypatch.setenv("BIGMODEL_KERNEL_NOTICE", "0")
    code, err = _run(argv, bad, capsys)
    assert "Traceback" not in err
    assert code in (0, 2), err
    if code == 2:
        lines = _terminal_lines(err)
        assert len(lines) == 1 and lines[0].startswith("error:"), err
