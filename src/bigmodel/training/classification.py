"""Fine-tuning a text classifier: ``[task] kind = "classification"``.

A pretrained BERT (or GPT) gets a linear head over its pooled state (BERT: tanh(W_p h_[CLS]);
GPT: the last real token) and everything is trained on labelled rows with the weighted
cross-entropy

    L = -(1/Σ_i w_{y_i}) Σ_i w_{y_i} log softmax(W h_i + b)[y_i]

where the class weight w_c is 1, or N / (C · n_c) with ``class_weights = "balanced"`` (n_c
examples of class c among N, C classes), so that a rare class counts as much as a common one.

``lora = true`` freezes the pretrained weights and trains rank-r adapters plus the head
(see :mod:`bigmodel.nn.lora`); the run folder then holds the adapter (adapter_model.safetensors,
adapter_config.json) and, unless ``lora_merged_copy = false``, the merged classifier too.

``early_stopping_patience = k`` stops after k evaluations without a better validation
``early_stopping_metric`` and keeps the best weights.

``long_texts = "windows"`` reads a text longer than ``seq_len`` as windows that cover all of
it (tokenization/windows.py) instead of its first ``seq_len`` tokens: the text's logits are
the mean of its windows' logits, z(x) = (1/k) Σ_j z(window_j), in training, validation and
(the saved config says so) in ``bm.classify`` / ``bigmodel eval`` afterwards.

Recipe::

    [task]
    kind = "classification"
    class_weights = "balanced"
    [model]
    pretrained = "all-minilm-l6-v2"          # any bigmodel BERT or GPT, or a local HF folder
    [data]
    path = "reviews.csv"                     # text,label columns; validation split if alone
    seq_len = 128
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.tables import (
    ClassificationData,
    LabelledTexts,
    format_balance,
    load_classification_data,
)
from ..errors import BigModelError
from ..models.families import family_maps, family_of
from ..nn.lora import DEFAULT_MODULES_TO_SAVE, DEFAULT_TARGETS
from ..tokenization.windows import check_long_texts, mean_over_windows, pad_rows, text_windows
from .objectives import Objective, register_objective
from .pretrained_finetuning import (
    build_head_model,
    check_context,
    check_finetuning_sources,
    pretrained_tokenizer,
    read_pretrained,
)

HEAD_WEIGHTS = {"BertForSequenceClassification": "classifier.", "GPT2ForSequenceClassification": "score."}


@dataclass
class ClassificationOptions:
    text_column: str = "text"
    label_column: str = "label"
    text_pair_column: str = "text_pair"
    validation_fraction: float = 0.1  # held out when data.validation_path is empty
    split_seed: int = 0
    skip_empty: bool = False
    max_train_examples: int = 0  # 0 = all; else a seeded, stratified subset
    class_weights: str = "none"  # none | balanced
    early_stopping_patience: int = 0  # evaluations without improvement; 0 = off
    early_stopping_metric: str = "accuracy"  # accuracy | loss
    max_minutes: float = 0.0  # end training after this much wall time (0 = no limit)
    long_texts: str = "truncate"  # truncate | windows: how a text longer than seq_len is read
    lora: bool = False
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))
    lora_modules_to_save: list[str] = field(default_factory=lambda: list(DEFAULT_MODULES_TO_SAVE))
    lora_merged_copy: bool = True  # also save the merged classifier beside the adapter


class TokenizedTexts:
    """Labelled texts tokenized once: item i = (windows' ids, their token_type_ids or None,
    class id); one window per text unless ``windows`` (then as many as cover a long text)."""

    def __init__(self, table: LabelledTexts, label2id: dict[str, int], tokenizer: Any, max_length: int,
                 windows: bool = False) -> None:
        assert table.labels is not None
        self.labels = [label2id[y] for y in table.labels]
        self.ids: list[list[list[int]]]
        self.type_ids: list[list[list[int]]] | None
        if windows and table.text_pairs is None:
            cut = text_windows(tokenizer, table.texts, max_length)
            self.ids = [[] for _ in table.texts]
            self.type_ids = [[] for _ in table.texts]
            for w, owner in enumerate(cut.owner):
                self.ids[owner].append(cut.input_ids[w])
                self.type_ids[owner].append(cut.token_type_ids[w])
            return
        enc = tokenizer(table.texts, table.text_pairs, padding=False, truncation=True, max_length=max_length,
                        return_tensors=None)
        self.ids = [[row] for row in enc["input_ids"]]
        types = enc.get("token_type_ids")
        self.type_ids = None if types is None else [[row] for row in types]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[list[list[int]], list[list[int]] | None, int]:
        return self.ids[i], self.type_ids[i] if self.type_ids is not None else None, self.labels[i]


class ClassificationCollator:
    """Right-pads a list of (windows' ids, type_ids, label) into input_ids, attention_mask,
    token_type_ids (W, T) and labels (B,); ``window_owner`` (W,) when a text has several."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, items: list[tuple[list[list[int]], list[list[int]] | None, int]],
                 rng: np.random.Generator | None = None) -> dict[str, Tensor]:
        rows = [window for windows, _, _ in items for window in windows]
        types = None if items[0][1] is None else [t for _, type_rows, _ in items for t in type_rows or []]
        batch = pad_rows(rows, types, self.pad_token_id)
        batch["labels"] = torch.tensor([label for _, _, label in items], dtype=torch.long)
        if len(rows) > len(items):
            batch["window_owner"] = torch.tensor([i for i, (windows, _, _) in enumerate(items) for _ in windows],
                                                 dtype=torch.long)
        return batch


def balanced_class_weights(labels: list[int], num_classes: int) -> Tensor:
    """w_c = N / (C · n_c); a class absent from ``labels`` gets weight 0."""
    counts = torch.bincount(torch.tensor(labels), minlength=num_classes).double()
    weights = torch.where(counts > 0, len(labels) / (num_classes * counts.clamp_min(1)), torch.zeros(()))
    return weights.float()


def build_classifier(pretrained: str, architecture: str, id2label: dict[int, str],
                     pad_token_id: int | None) -> Any:
    """A pretrained body with a fresh head sized for ``id2label`` (training mode)."""
    source = read_pretrained(pretrained)
    classifiers = sorted(m.sequence_classifier for m in family_maps() if m.sequence_classifier)
    architecture = architecture or source.family_map.sequence_classifier
    if architecture not in classifiers:
        raise BigModelError(f"model.architecture {architecture!r} is not a text classifier; use "
                            f"{' or '.join(classifiers)} (or leave it empty)")
    changes: dict[str, Any] = {"id2label": id2label, "num_labels": len(id2label)}
    if source.family_map.causal:  # the head reads each row's last real token: it needs the pad id
        changes["pad_token_id"] = pad_token_id
    fresh_head = None
    if source.architecture == architecture:
        # A classifier fine-tuned again: its head only fits when the label set is the same size.
        saved_labels = len(source.hf_config.get("id2label") or {}) or source.hf_config.get("num_labels", 2)
        if saved_labels != len(id2label):
            fresh_head = HEAD_WEIGHTS[architecture]
    return build_head_model(source, architecture, changes, fresh_head=fresh_head)


class EarlyStopping:
    """A trainer callback: after each evaluation, keep the best weights; after ``patience``
    evaluations without improvement, end the run (the trainer then saves the best weights)."""

    def __init__(self, metric: str, patience: int) -> None:
        self.metric = metric
        self.patience = patience
        self.best: float | None = None
        self.best_step = 0
        self.bad = 0
        self.best_state: dict[str, Tensor] | None = None
        self.stopped_at: int | None = None

    def _better(self, value: float) -> bool:
        if self.best is None:
            return True
        return value < self.best if self.metric == "loss" else value > self.best

    def __call__(self, trainer: Any, row: dict[str, Any]) -> None:
        history = trainer.history
        latest = history[-1] if history else None
        if latest is None or latest.get("split") != "validation" or latest.get("step") != trainer.step:
            return
        if self.metric not in latest:
            raise BigModelError(f"task.early_stopping_metric {self.metric!r} is not among the validation "
                                f"figures ({', '.join(k for k in latest if k not in ('step', 'split'))})")
        value = float(latest[self.metric])
        if self._better(value):
            self.best, self.best_step, self.bad = value, trainer.step, 0
            self.best_state = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
        else:
            self.bad += 1
        finishing = trainer.step >= trainer.config.train.max_steps
        if self.bad >= self.patience and not finishing:
            self.stopped_at = trainer.step
            trainer.config.train.max_steps = trainer.step  # the loop ends; the trainer saves the model
            finishing = True
        if finishing and self.best_state is not None and self.best_step != trainer.step:
            params = dict(trainer.model.named_parameters())
            with torch.no_grad():
                for name, value_ in self.best_state.items():
                    params[name].copy_(value_)
        if finishing:
            trainer.log({"step": trainer.step, "split": "early_stopping", "best_step": self.best_step,
                         f"best_{self.metric}": self.best, "stopped": self.stopped_at is not None})


class TimeBudget:
    """A trainer callback that fits the run into ``minutes`` of wall time.

    Every ``every`` steps it measures the seconds per step over those last steps (a shared
    machine speeds up and slows down) and sets ``max_steps`` to the steps that fit in the
    time left, never above the configured number, refitting the learning-rate schedule to
    the new total so the cosine still decays to its floor at the end. Past the budget it ends
    the run at once.
    """

    def __init__(self, minutes: float, every: int = 10) -> None:
        self.seconds = minutes * 60.0
        self.every = every
        self.started: float | None = None
        self.last: tuple[int, float] = (0, 0.0)
        self.configured_steps: int | None = None
        self.stopped_at: int | None = None
        self.refitted_to: int | None = None

    def __call__(self, trainer: Any, row: dict[str, Any]) -> None:
        import time

        from .optim import warmup_cosine

        now = time.perf_counter()
        t = trainer.config.train
        if self.started is None:
            self.started, self.last, self.configured_steps = now, (trainer.step, now), t.max_steps
            return
        elapsed = now - self.started
        if elapsed >= self.seconds and trainer.step < t.max_steps:
            self.stopped_at = trainer.step
            t.max_steps = trainer.step
            return
        last_step, last_time = self.last
        if trainer.step - last_step < self.every:
            return
        self.last = (trainer.step, now)
        per_step = (now - last_time) / (trainer.step - last_step)
        fits = trainer.step + int((self.seconds - elapsed) / per_step)
        total = max(trainer.step + 1, min(fits, self.configured_steps or fits))
        if total != t.max_steps:
            t.max_steps = total
            self.refitted_to = total

            def schedule(step: int) -> float:
                return warmup_cosine(step, t.warmup_steps, total, t.min_lr_ratio)

            lambdas = trainer.scheduler.lr_lambdas
            lambdas[:] = [schedule] * len(lambdas)


@register_objective
class TextClassification(Objective):
    """Sequence classification on a labelled CSV / TSV / JSONL file."""

    name = "classification"
    default_architecture = ""
    Options = ClassificationOptions

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        o = self.options
        if o.class_weights not in ("none", "balanced"):
            raise BigModelError(f'config task.class_weights must be "none" or "balanced", got {o.class_weights!r}')
        if o.early_stopping_metric not in ("accuracy", "loss"):
            raise BigModelError(f'config task.early_stopping_metric must be "accuracy" or "loss", '
                                f"got {o.early_stopping_metric!r}")
        if o.early_stopping_patience < 0 or o.max_train_examples < 0 or o.max_minutes < 0:
            raise BigModelError("config task.early_stopping_patience, task.max_train_examples and "
                                "task.max_minutes must be >= 0")
        check_long_texts(o.long_texts, "config task.long_texts")
        check_finetuning_sources(config, "a labelled .csv / .tsv / .jsonl file", model="the model",
                                 example="all-minilm-l6-v2")
        self.data: ClassificationData = load_classification_data(
            config.data.path, config.data.validation_path or None, validation_fraction=o.validation_fraction,
            seed=o.split_seed, text_column=o.text_column, label_column=o.label_column,
            text_pair_column=o.text_pair_column or None, skip_empty=o.skip_empty)
        if o.max_train_examples and o.max_train_examples < len(self.data.train):
            from ..data.tables import stratified_split

            assert self.data.train.labels is not None
            _, keep = stratified_split(self.data.train.labels, o.max_train_examples / len(self.data.train), o.split_seed)
            self.data.train = self.data.train.subset(keep)
        # The trainer evaluates the first eval_batches · batch_size validation rows: shuffle them
        # (seeded) so that a file sorted by label does not yield a one-class validation set.
        order = list(range(len(self.data.validation)))
        random.Random(o.split_seed).shuffle(order)
        self.data.validation = self.data.validation.subset(order)
        self.class_weight: Tensor | None = None
        self.early_stopping = (EarlyStopping(o.early_stopping_metric, o.early_stopping_patience)
                               if o.early_stopping_patience else None)
        self.time_budget = TimeBudget(o.max_minutes) if o.max_minutes else None
        if config.train.progress:
            import sys

            print(f"classification data: {self.describe()}", file=sys.stderr)

    def describe(self) -> str:
        d = self.data
        return (f"{len(d.train)} training rows ({format_balance(d.train.labels or [])}); "
                f"{len(d.validation)} validation rows ({format_balance(d.validation.labels or [])})")

    def build_tokenizer(self) -> Any:
        return pretrained_tokenizer(self.config)

    def _pad_id(self) -> int:
        tok = self.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        if pad is None:
            raise BigModelError("the tokenizer has neither a pad nor an eos token to pad batches with")
        return int(pad)

    def build_model(self) -> Any:
        o = self.options
        model = build_classifier(self.config.model.pretrained, self.config.model.architecture,
                                 self.data.id2label, self._pad_id())
        check_context(self.config, model)
        if hasattr(model.config, "long_texts"):
            model.config.long_texts = o.long_texts
        elif o.long_texts != "truncate":
            raise BigModelError(f"config task.long_texts = {o.long_texts!r}: a {model.architecture} has no "
                                f"long_texts setting to save; use a BERT classifier or \"truncate\"")
        if o.lora:
            from ..nn.lora import apply_lora

            apply_lora(model, o.lora_rank, o.lora_alpha, o.lora_dropout, o.lora_target_modules, o.lora_modules_to_save)
            model.save_pretrained = lambda directory: self._save_lora(model, directory)
        if o.class_weights == "balanced":
            self.class_weight = balanced_class_weights(self.train_set_labels(), len(self.data.labels))
        return model

    def _save_lora(self, model: Any, directory: str | Path) -> Path:
        """The adapter (always) and the merged classifier (unless lora_merged_copy = false)."""
        from ..hub import save_model
        from ..nn.lora import merged_state_dict, save_adapter

        directory = Path(directory)
        save_adapter(model, directory, base_model=self.config.model.pretrained,
                     extra={"architecture": model.architecture, "id2label": model.config.id2label,
                            "pad_token_id": getattr(model.config, "pad_token_id", None),
                            "long_texts": self.options.long_texts})
        if self.options.lora_merged_copy:
            merged = type(model)(model.config)
            merged.load_state_dict(merged_state_dict(model))
            save_model(merged, directory)
        return directory

    def train_set_labels(self) -> list[int]:
        label2id = self.data.label2id
        return [label2id[y] for y in self.data.train.labels or []]

    def build_datasets(self) -> tuple[Any, Any | None]:
        seq_len = self.config.data.seq_len
        label2id = self.data.label2id
        self._collator = ClassificationCollator(self._pad_id())
        windows = self.options.long_texts == "windows"
        train = TokenizedTexts(self.data.train, label2id, self.tokenizer, seq_len, windows)
        validation = TokenizedTexts(self.data.validation, label2id, self.tokenizer, seq_len, windows)
        return train, validation

    def collate(self, items: list[Any], rng: np.random.Generator) -> dict[str, Tensor]:
        return self._collator(items, rng)

    def loss(self, model: Any, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        labels = batch["labels"]
        inputs = {k: v for k, v in batch.items() if k not in ("labels", "window_owner")}
        family = family_of(model)
        if "token_type_ids" in inputs and family is not None and not family.reads_token_type_ids:
            inputs.pop("token_type_ids")
        logits = model(**inputs).logits.float()
        if "window_owner" in batch:
            logits = mean_over_windows(logits, batch["window_owner"], len(labels))
        weight = self.class_weight.to(logits.device) if self.class_weight is not None else None
        loss = F.cross_entropy(logits, labels, weight=weight)
        with torch.no_grad():
            accuracy = float((logits.argmax(-1) == labels).float().mean())
        return loss, {"accuracy": accuracy}

    def count_tokens(self, batch: dict[str, Tensor]) -> int:
        return int(batch["attention_mask"].sum())

    def callbacks(self) -> list[Any]:
        # The time budget first: when it ends the run, early stopping then restores the best.
        return [c for c in (self.time_budget, self.early_stopping) if c is not None]


def make_trainer(config: Any, overrides: list[str] | None = None) -> Any:
    """A :class:`~bigmodel.training.trainer.Trainer` with this objective's callbacks attached."""
    from .trainer import Trainer

    trainer = Trainer(config, overrides)
    for callback in getattr(trainer.objective, "callbacks", lambda: [])():
        if callback not in trainer.callbacks:
            trainer.callbacks.append(callback)
    return trainer


def finetune(config: Any, overrides: list[str] | None = None, resume: str | Path | bool | None = None) -> dict[str, Any]:
    """Fine-tune a classifier as ``config`` says (a TOML path, dict or Config)."""
    trainer = make_trainer(config, overrides)
    result = trainer.train(resume=resume)
    stopper = getattr(trainer.objective, "early_stopping", None)
    if stopper is not None:
        result["early_stopping"] = {"best_step": stopper.best_step, f"best_{stopper.metric}": stopper.best,
                                    "stopped_at": stopper.stopped_at}
    return result


__all__ = ["ClassificationCollator", "ClassificationOptions", "EarlyStopping", "TextClassification",
           "TokenizedTexts", "balanced_class_weights", "build_classifier", "finetune", "make_trainer"]
