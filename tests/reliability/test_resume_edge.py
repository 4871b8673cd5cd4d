"""The edges of resuming and loading: no checkpoint yet, leftovers of a kill, hostile files.

A restart loop that always passes ``--resume`` must recover from a kill before the first save;
temporary files of a killed save are removed when the next run starts; a run whose loss turns
non-finite stops with one line and leaves no half-made folder; nothing outside a model folder
is read unless the user opts in; nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from bigmodel.cli import main
from bigmodel.data.text import TokenCorpus, prepare_corpus
from bigmodel.errors import BigModelError
from bigmodel.hub import load, read_weights
from bigmodel.paths import TRUST_EXTERNAL_ENV
from bigmodel.tokenization import train_tokenizer
from bigmodel.training.trainer import CHECKPOINTS, LATEST, Trainer

torch.set_num_threads(1)

WORDS = "the cat sat on a mat while dog ran far away in house with big red door".split()
TINY_GPT = Path(__file__).resolve().parents[2] / "src/bigmodel/assets/models/tiny-gpt-en"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("resume-corpus")
    rng = random.Random(0)
    docs = ["\n".join(" ".join(rng.choice(WORDS) for _ in range(8)) + "." for _ in range(4)) for _ in range(20)]
    text = root / "corpus.txt"
    text.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    tok = train_tokenizer([text], kind="bpe", vocab_size=300, out_dir=root / "tok", show_progress=False)
    prepare_corpus([text], tok, root / "data", show_progress=False)
    return root / "data"


def _config(data: Path, out: Path, **train: object) -> dict:
    return {
        "task": {"kind": "causal_lm"},
        "model": {"config": {"n_layers": 1, "d_model": 16, "n_heads": 2}},
        "data": {"path": str(data), "seq_len": 8},
        "train": {"out_dir": str(out), "max_steps": 4, "batch_size": 2, "lr": 1e-3, "warmup_steps": 1,
                  "eval_every": 0, "eval_batches": 1, "log_every": 1, "progress": False,
                  "peak_gflops": 100.0} | train,
    }


def test_resume_without_a_checkpoint_starts_fresh_and_says_so(data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 1, "split": "train", "loss": 9.0}\n')  # a kill at step 1
    result = Trainer(_config(data, out)).train(resume=True)
    assert result["step"] == 4
    assert "no checkpoint yet; starting from step 0" in capsys.readouterr().err
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["step"] == 1 and rows[0]["loss"] != 9.0  # the killed run's rows are gone


def test_resume_require_is_strict(data: Path, tmp_path: Path) -> None:
    with pytest.raises(BigModelError, match="holds no checkpoint|does not exist"):
        Trainer(_config(data, tmp_path / "run")).train(resume="require")


def test_the_cli_restart_loop_recovers(data: Path, tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "r.toml"
    out = tmp_path / "run"
    lines = [f'[data]\npath = "{data}"\nseq_len = 8\n', "[model.config]\nn_layers = 1\nd_model = 16\nn_heads = 2\n",
             f'[train]\nout_dir = "{out}"\nmax_steps = 2\nbatch_size = 2\neval_every = 0\neval_batches = 1\n'
             "progress = false\npeak_gflops = 100.0\nsave_every = 1\n"]
    recipe.write_text("\n".join(lines))
    assert main(["train", str(recipe), "--resume"]) == 0
    assert main(["train", str(recipe), "--resume", "require"]) == 0  # now there is one
    assert (out / CHECKPOINTS / LATEST).is_file()


def test_leftovers_of_a_killed_save_are_removed_at_start(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    Trainer(_config(data, out, save_every=2)).train()
    # What kill -9 during a save leaves: a 0-byte temporary beside the model, a temp checkpoint.
    (out / ".model.safetensors.abc123.tmp").write_bytes(b"")
    (out / ".config.json.zz.tmp").write_text("{")
    (out / CHECKPOINTS / ".tmp-step-00000009-4242").mkdir()
    latest = out / CHECKPOINTS / (out / CHECKPOINTS / LATEST).read_text().strip()
    (latest / ".optimizer.pt.x.tmp").write_bytes(b"\0")
    Trainer(_config(data, out, save_every=2, max_steps=6)).train(resume=True)
    left = [p.name for p in out.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".tmp-")]
    assert left == []
    assert (out / "model.safetensors").stat().st_size > 0


def test_a_loss_that_turns_non_finite_is_one_error_and_no_folder(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(BigModelError, match="loss became") as info:
        Trainer(_config(data, out, lr=1e30, max_grad_norm=0.0, max_steps=50, warmup_steps=0)).train()
    assert "\n" not in str(info.value)
    assert not out.exists()


def test_a_failed_run_keeps_a_folder_it_did_not_create(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("the user's")
    with pytest.raises(BigModelError, match="loss became"):
        Trainer(_config(data, out, lr=1e30, max_grad_norm=0.0, max_steps=50, warmup_steps=0)).train()
    assert (out / "notes.txt").read_text() == "the user's"


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_an_evil_resume_checkpoint_is_one_line_that_never_suggests_unpickling(data: Path, tmp_path: Path) -> None:
    evil = tmp_path / "evil"
    evil.mkdir()
    torch.save({"step": _Evil()}, evil / "trainer_state.pt")
    torch.save({"optimizer": {}}, evil / "optimizer.pt")
    with pytest.raises(BigModelError) as info:
        Trainer(_config(data, tmp_path / "run")).train(resume=evil)
    message = str(info.value)
    assert "\n" not in message and "weights_only" not in message and "refused to unpickle" in message


def test_object_arrays_in_a_data_folder_are_refused(data: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(data, tmp_path / "data")
    np.save(copy / "validation.documents.npy", np.array([print], dtype=object), allow_pickle=True)
    with pytest.raises(BigModelError, match="not a plain integer array"):
        TokenCorpus.open(copy, "validation")
    with open(copy / "train.sentences.npy", "wb") as handle:
        pickle.dump([1, 2], handle)  # a pickle with a .npy name
    with pytest.raises(BigModelError, match="not a plain integer array"):
        TokenCorpus.open(copy, "train")


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "elsewhere" / "weights.safetensors"
    secret.parent.mkdir()
    shutil.copy(TINY_GPT / "model.safetensors", secret)
    return secret


def test_a_weights_symlink_leading_outside_is_refused_unless_trusted(tmp_path: Path, outside: Path,
                                                                      monkeypatch) -> None:
    folder = shutil.copytree(TINY_GPT, tmp_path / "model")
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").symlink_to(outside)
    with pytest.raises(BigModelError, match=f"outside the model folder.*{TRUST_EXTERNAL_ENV}"):
        load(folder)
    assert load(folder, trust_external_files=True).config.d_model == 128
    monkeypatch.setenv(TRUST_EXTERNAL_ENV, "1")
    assert read_weights(folder)


def test_a_symlink_inside_the_folder_is_fine(tmp_path: Path) -> None:
    folder = shutil.copytree(TINY_GPT, tmp_path / "model")
    (folder / "weights").mkdir()
    (folder / "model.safetensors").rename(folder / "weights" / "w.safetensors")
    (folder / "model.safetensors").symlink_to(Path("weights") / "w.safetensors")
    assert load(folder).config.n_layers == 4


@pytest.mark.parametrize("shard", ["../elsewhere/weights.safetensors", "ABSOLUTE", "sub/../../x.safetensors"])
def test_an_index_naming_files_outside_is_refused(tmp_path: Path, outside: Path, shard: str) -> None:
    folder = shutil.copytree(TINY_GPT, tmp_path / "model")
    (folder / "model.safetensors").unlink()
    shard = str(outside) if shard == "ABSOLUTE" else shard
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": shard}}))
    with pytest.raises(BigModelError, match="outside the model folder"):
        read_weights(folder)


def test_a_hugging_face_cache_snapshot_may_link_into_its_blobs(tmp_path: Path) -> None:
    repo = tmp_path / "models--me--tiny"
    snapshot = repo / "snapshots" / "abc123"
    shutil.copytree(TINY_GPT, snapshot)
    (repo / "blobs").mkdir()
    (snapshot / "model.safetensors").rename(repo / "blobs" / "f00d")
    (snapshot / "model.safetensors").symlink_to(Path("../../blobs/f00d"))
    assert read_weights(snapshot)
