"""The planner: exact parameter counts from configs, sane memory and FLOPs, clear errors."""

from __future__ import annotations

import json

import pytest
import torch

import bigmodel.planning as planner
from bigmodel.cli import main
from bigmodel.errors import BigModelError
from bigmodel.models.bert import (
    BertConfig,
    BertForMaskedLM,
    BertForPreTraining,
    BertForSequenceClassification,
    BertModel,
)
from bigmodel.models.gpt import GPT, GPTConfig
from bigmodel.models.resnet import RESNET_PRESETS, ResNetConfig, ResNetForImageClassification
from bigmodel.models.transformer import Transformer, TransformerConfig
from bigmodel.planning import calibration, formulas


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.mark.parametrize("name, expected", [
    ("gpt2", 124_439_808),
    ("gpt2-medium", 354_823_168),
    ("bert-base-uncased", 109_482_240),
    ("all-minilm-l6-v2", 22_713_216),
])
def test_parameter_counts_of_presets_are_exact(name, expected):
    assert planner.count_parameters(name)["total"] == expected


@pytest.mark.parametrize("name, expected", [("resnet18", 11_689_512), ("resnet50", 25_557_032)])
def test_resnet_counts_are_exact(name, expected):
    assert planner.count_parameters(ResNetConfig(**RESNET_PRESETS[name]))["total"] == expected


def _meta_count(cls, config) -> int:
    with torch.device("meta"):
        return cls(config).num_parameters()


@pytest.mark.parametrize("cls, config", [
    (GPT, GPTConfig(vocab_size=101, max_seq_len=33, d_model=24, n_layers=3, n_heads=4, d_ff=40)),
    (GPT, GPTConfig(vocab_size=101, max_seq_len=33, d_model=24, n_layers=2, n_heads=4, bias=False,
                    tie_embeddings=False)),
    (BertModel, BertConfig(vocab_size=77, max_seq_len=40, d_model=16, n_layers=2, n_heads=2, d_ff=48,
                           type_vocab_size=3)),
    (BertForPreTraining, BertConfig(vocab_size=77, d_model=16, n_layers=1, n_heads=2, d_ff=48)),
    (BertForMaskedLM, BertConfig(vocab_size=77, d_model=16, n_layers=1, n_heads=2, d_ff=48)),
    (Transformer, TransformerConfig(vocab_size=60, tgt_vocab_size=70, share_embeddings=False, tie_output=False,
                                    norm_first=True, d_model=16, n_heads=2, d_ff=24, n_encoder_layers=2,
                                    n_decoder_layers=3)),
    (Transformer, TransformerConfig(vocab_size=60, d_model=16, n_heads=2, d_ff=24, n_encoder_layers=1,
                                    n_decoder_layers=2)),
    (ResNetForImageClassification, ResNetConfig(**RESNET_PRESETS["resnet34"], stem="small", num_labels=10)),
    (ResNetForImageClassification, ResNetConfig(hidden_sizes=(32, 64), depths=(2, 1), embedding_size=16,
                                                downsample_in_bottleneck=True, num_labels=3)),
])
def test_formula_matches_the_built_model(cls, config):
    shape = planner.shape_from_config("x", cls.family, cls.architecture, config)
    counts = formulas.parameter_counts(shape, None)
    assert counts["with_head"] == _meta_count(cls, config)


@pytest.mark.parametrize("cls, config", [
    (BertForSequenceClassification, BertConfig(vocab_size=77, d_model=16, n_layers=2, n_heads=2, d_ff=48,
                                               num_labels=3)),
    (GPT, GPTConfig(vocab_size=101, max_seq_len=33, d_model=24, n_layers=3, n_heads=4)),
    (Transformer, TransformerConfig(vocab_size=60, d_model=16, n_heads=2, d_ff=24, n_encoder_layers=1,
                                    n_decoder_layers=2)),
])
def test_lora_trainable_count_matches_apply_lora(cls, config):
    from bigmodel.nn.lora import apply_lora, count_trainable

    shape = planner.shape_from_config("x", cls.family, cls.architecture, config)
    expected, _ = count_trainable(apply_lora(cls(config), rank=4))
    assert formulas.parameter_counts(shape, 4)["trainable"] == expected


def test_local_folder_is_read_from_config_only(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": 50257, "n_positions": 1024,
        "n_embd": 768, "n_layer": 12, "n_head": 12}))
    p = planner.plan(tmp_path, seq_len=128)  # no weights in the folder: none are needed
    assert p.parameters["total"] == 124_439_808


def test_flops_memory_follow_the_formulas():
    p = planner.plan("gpt2", batch_size=2, seq_len=256)
    d, L, V = 768, 12, 50257
    n_mm = L * (4 * d * d + 2 * d * 4 * d) + V * d
    assert p.flops["forward_per_token"] == 2 * n_mm + 2 * L * 256 * d
    assert p.flops["training_per_step"] == 3 * p.flops["forward_per_step"]
    inf = p.memory["inference"]
    assert inf["weights"] == 124_439_808 * 4
    assert inf["kv_cache"] == 2 * L * 2 * 256 * d * 4
    bf16 = planner.plan("gpt2", batch_size=2, seq_len=256, dtype="bf16")
    assert bf16.memory["inference"]["weights"] * 2 == inf["weights"]


def test_training_memory_options():
    full = planner.plan("gpt2", batch_size=4, seq_len=512, training=True)
    tr = full.memory["training"]
    assert tr["optimizer"] == 2 * tr["gradients"]
    assert tr["activations_checkpointed"] < tr["activations"]
    assert tr["total_checkpointed"] < tr["total"]
    sgd = planner.plan("gpt2", training=True, optimizer="sgd").memory["training"]
    assert sgd["optimizer"] == sgd["gradients"]
    lora = planner.plan("gpt2", training=True, lora_rank=8)
    assert lora.parameters["trainable"] == 12 * 8 * (4 * 768 + 2 * 768)
    assert lora.memory["training"]["gradients"] == lora.parameters["trainable"] * 4
    ckpt = planner.plan("gpt2", training=True, checkpointing=True)
    assert ckpt.flops["training_per_step"] == 4 * ckpt.flops["forward_per_step"]


def test_time_estimates_use_the_cached_calibration(monkeypatch):
    assert planner.load_calibration() is None
    assert planner.plan("gpt2", seq_len=64).time is None
    cal = planner.Calibration({"fp32": 1e11, "bf16": 2e11, "fp16": 2e11}, {"fp32": 1e10, "bf16": 1e10, "fp16": 1e10},
                              2e10, 1e-4, 2e-4, 2, calibration._machine(), torch.__version__, "now")
    planner.calibration_path().parent.mkdir(parents=True)
    planner.calibration_path().write_text(json.dumps(cal.to_dict()))
    p = planner.plan("gpt2", seq_len=64)
    assert p.time is not None
    streamed = (124_439_808 - 39_383_808 + 50257 * 768) * 4 + 2 * 12 * 32 * 768 * 4
    assert p.time["decode_step_s"] == pytest.approx(1e-4 + 12 * 2e-4 + streamed / 1e10)
    # With the measured batch curve: weights at the interpolated cost, KV cache at bandwidth.
    cal.linear_s_per_byte = {"fp32": {"1": 1e-10, "8": 3e-10, "32": 6e-10}}
    planner.calibration_path().write_text(json.dumps(cal.to_dict()))
    p = planner.plan("gpt2", seq_len=64, batch_size=4)
    weights = (124_439_808 - 39_383_808 + 50257 * 768) * 4
    kv = 2 * 12 * 4 * 32 * 768 * 4
    per_byte = 1e-10 + 2e-10 * 3 / 7
    assert p.time["decode_step_s"] == pytest.approx(1e-4 + 12 * 2e-4 + weights * per_byte + kv / 1e10)


def test_budget_lists_what_fits():
    rows = {r["model"]: r for r in planner.fits_in_memory("1GB", seq_len=128)}
    assert rows["all-minilm-l6-v2"]["fits"] and not rows["gpt2-xl"]["fits"]
    assert planner.parse_memory("8GB") == 8 * 10**9 and planner.parse_memory("1GiB") == 2**30
    with pytest.raises(BigModelError, match="8GB"):
        planner.parse_memory("lots")


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(BigModelError, match='did you mean "gpt2-medium"'):
        planner.plan("gpt2-meduim")
    with pytest.raises(BigModelError, match="exceeds gpt2's context of 1024"):
        planner.plan("gpt2", seq_len=4096)
    with pytest.raises(BigModelError, match="dtype"):
        planner.plan("gpt2", dtype="int3")
    with pytest.raises(BigModelError, match="batch_size"):
        planner.plan("gpt2", batch_size=0)


def test_cli_plan_compare_budget_and_errors(capsys):
    assert main(["plan", "gpt2", "--seq-len", "128", "--compare", "all-minilm-l6-v2"]) == 0
    out = capsys.readouterr().out
    assert "124,439,808" in out and "22,713,216" in out
    assert main(["plan", "bert-base-uncased", "--seq-len", "64", "--training", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["parameters"]["total"] == 109_482_240
    assert main(["plan", "--budget-memory", "2GB", "--seq-len", "128"]) == 0
    assert "fits" in capsys.readouterr().out
    assert main(["plan", "gtp2"]) == 2
    assert 'did you mean "gpt2"' in capsys.readouterr().err
    assert main(["plan", "gpt2", "--seq-len", "2048"]) == 2
    assert "context" in capsys.readouterr().err


def test_calibrate_writes_the_cache(monkeypatch):
    for name, value in (("_MATMUL_N", 128), ("_GEMV_N", 256), ("_GEMV_COUNT", 2), ("_STREAM_ELEMS", 2**16),
                        ("_DECODE_TOKENS", 4)):
        monkeypatch.setattr(calibration, name, value)
    cal = planner.calibrate(save=True)
    assert cal.matmul_flops["fp32"] > 0 and cal.gemv_bandwidth["fp32"] > 0
    assert planner.load_calibration() == cal


def test_planning_a_preset_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = ("import sys; import bigmodel.planning as p\n"
            "plan = p.plan('gpt2-xl', batch_size=8, seq_len=1024, training=True)\n"
            "assert plan.parameters['total'] == 1_557_611_200, plan.parameters\n"
            "assert p.count_parameters('resnet50')['total'] == 25_557_032\n"
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
