"""Loading checkpoints: presets, folders, the hub cache, and every way a folder can be wrong."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

import bigmodel as bm
from bigmodel.cli import main
from bigmodel.errors import BigModelError
from bigmodel.models.gpt import GPT, GPTConfig


@pytest.fixture()
def tiny_gpt_folder(tmp_path):
    model = GPT(GPTConfig(vocab_size=50, max_seq_len=16, d_model=32, n_layers=2, n_heads=4))
    model.save_pretrained(tmp_path / "gpt")
    return tmp_path / "gpt"


def test_round_trip_is_exact(tiny_gpt_folder) -> None:
    model = bm.load(tiny_gpt_folder)
    again = bm.load(tiny_gpt_folder)
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert not model.training


def test_missing_path_is_one_clear_line(tmp_path) -> None:
    with pytest.raises(BigModelError, match="not found"):
        bm.load(str(tmp_path / "nope"))


def test_unknown_preset_suggests_the_closest() -> None:
    with pytest.raises(BigModelError, match='did you mean "gpt2"'):
        bm.create("gtp2")


def test_hub_id_not_in_cache_says_so(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(BigModelError, match="not in the Hugging Face cache"):
        bm.load("someone/some-model")


def test_folder_of_another_architecture(tiny_gpt_folder) -> None:
    config = json.loads((tiny_gpt_folder / "config.json").read_text())
    config["model_type"] = "llama"
    (tiny_gpt_folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(BigModelError, match="model_type 'llama'"):
        bm.load(tiny_gpt_folder)


def test_asking_for_an_architecture_of_another_family(tiny_gpt_folder) -> None:
    with pytest.raises(BigModelError, match="BertForMaskedLM"):
        bm.load(tiny_gpt_folder, architecture="BertForMaskedLM")


def test_truncated_safetensors(tiny_gpt_folder) -> None:
    weights = tiny_gpt_folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(BigModelError, match="truncated or corrupt"):
        bm.load(tiny_gpt_folder)


def test_wrong_shaped_tensor_is_named(tiny_gpt_folder) -> None:
    weights = tiny_gpt_folder / "model.safetensors"
    state = load_file(weights)
    state["transformer.h.1.mlp.c_fc.weight"] = torch.zeros(32, 100)
    save_file(state, weights)
    with pytest.raises(BigModelError, match=r"mis-shaped \(transformer.blocks.1.ffn.fc_in.weight"):
        bm.load(tiny_gpt_folder)


def test_missing_and_unexpected_keys_are_counted(tiny_gpt_folder) -> None:
    weights = tiny_gpt_folder / "model.safetensors"
    state = load_file(weights)
    for key in [k for k in state if ".h.1." in k]:
        del state[key]
    state["transformer.h.9.extra.weight"] = torch.zeros(2)
    save_file(state, weights)
    with pytest.raises(BigModelError) as info:
        bm.load(tiny_gpt_folder)
    message = str(info.value)
    assert "12 missing (transformer.blocks.1." in message and "and 8 more" in message
    assert "1 unexpected (transformer.h.9.extra.weight)" in message


def test_pickle_is_read_with_weights_only(tiny_gpt_folder) -> None:
    state = load_file(tiny_gpt_folder / "model.safetensors")
    (tiny_gpt_folder / "model.safetensors").unlink()
    torch.save(state, tiny_gpt_folder / "pytorch_model.bin")
    assert isinstance(bm.load(tiny_gpt_folder), GPT)


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickle_that_runs_code_is_refused(tiny_gpt_folder, capsys) -> None:
    (tiny_gpt_folder / "model.safetensors").unlink()
    torch.save({"x": _Evil()}, tiny_gpt_folder / "pytorch_model.bin")
    with pytest.raises(BigModelError, match="refused to unpickle"):
        bm.load(tiny_gpt_folder)
    assert "this must never run" not in capsys.readouterr().out


def test_cli_exit_code_2_and_one_line(tmp_path, capsys) -> None:
    assert main(["embed", "hello", "--model", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


def test_cli_unknown_option_exit_code_2(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["models", "--bogus"])
    assert info.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_models_lists_presets_with_parameters(capsys) -> None:
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["gpt2"]["parameters"] == 124_439_808
    assert rows["all-minilm-l6-v2"]["weights"] == "package"
