"""task.kind "mlm": masked-LM alone, optionally on frozen lower layers of a pretrained BERT."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bigmodel.errors import BigModelError
from bigmodel.training.trainer import Trainer


def mlm_config(make_bert_config, data: Path, out: Path, **task: object) -> dict:
    config = make_bert_config(data, out, log_every=1)
    config["task"] = {"kind": "mlm"} | task
    config["model"]["architecture"] = "BertForMaskedLM"
    return config


def test_mlm_loss_falls_and_reports_accuracy(corpus: dict[str, Path], tmp_path: Path, make_bert_config) -> None:
    trainer = Trainer(mlm_config(make_bert_config, corpus["bert"], tmp_path))
    result = trainer.train()
    losses = [r["loss"] for r in trainer.history if r["split"] == "train"]
    assert losses[-1] < 0.75 * losses[0]
    assert result["validation"]["mlm_accuracy"] > 0.05
    assert "nsp_loss" not in result["validation"]


def test_frozen_layers_and_embeddings_stay_as_they_were(corpus: dict[str, Path], tmp_path: Path,
                                                         make_bert_config) -> None:
    config = mlm_config(make_bert_config, corpus["bert"], tmp_path, freeze_embeddings=True, freeze_layers=1)
    config["train"]["max_steps"] = 5
    trainer = Trainer(config)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    after = trainer.model.state_dict()
    assert torch.equal(before["bert.blocks.0.ffn.fc_in.weight"], after["bert.blocks.0.ffn.fc_in.weight"])
    assert torch.equal(before["bert.embeddings.token.weight"], after["bert.embeddings.token.weight"])
    assert not torch.equal(before["bert.blocks.1.ffn.fc_in.weight"], after["bert.blocks.1.ffn.fc_in.weight"])
    assert not torch.equal(before["mlm_head.transform.weight"], after["mlm_head.transform.weight"])


def test_freezing_more_layers_than_the_model_has_is_an_error(corpus: dict[str, Path], tmp_path: Path,
                                                             make_bert_config) -> None:
    with pytest.raises(BigModelError, match="task.freeze_layers must be between 0 and 2"):
        Trainer(mlm_config(make_bert_config, corpus["bert"], tmp_path, freeze_layers=3))
