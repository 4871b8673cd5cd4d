"""Evaluation: a classifier on a labelled file, a language model's perplexity on a text file.

Classification: accuracy, per-class precision / recall / F1, macro-F1 and the confusion
matrix (definitions in :mod:`bigmodel.metrics`).

Perplexity with a sliding window: the text is one token stream; windows of W tokens advance
by a stride S < W, and each window scores only its last S tokens (the first window all of
its own), so every token after the first is predicted exactly once, with at least W - S
tokens of context once the first window is passed:

    PPL = exp( -(1/N) Σ_i log p(x_i | x_{max(0, i-W+1)..i-1}) )
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ..data.tables import check_known_labels, read_table
from ..errors import BigModelError
from ..fileio import read_text
from ..metrics import classification_report, perplexity, plot_confusion_matrix
from ..models.base import BigModel
from .common import get_model, get_tokenizer
from .text_classification import label_list, load_classifier, long_text_mode, predict_logits


def evaluate_classifier(
    model: str | Path | BigModel,
    data: str | Path,
    *,
    tokenizer: Any = None,
    text_column: str = "text",
    label_column: str = "label",
    text_pair_column: str | None = "text_pair",
    skip_empty: bool = False,
    batch_size: int = 32,
    max_length: int | None = None,
    long_texts: str | None = None,
    plot: str | Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """The classification report of ``model`` on the labelled file ``data``.

    ``long_texts``: "truncate" or "windows" (see :func:`~bigmodel.tasks.classify`); None
    reads long texts as the model was fine-tuned to (its config.long_texts).

    Labels in the file must be among the model's label names (config.id2label); a label the
    model never saw is an error naming it. ``plot`` also writes the confusion matrix as PNG.
    """
    network = load_classifier(model)
    tok = get_tokenizer(model if not isinstance(model, BigModel) else network, tokenizer)
    table = read_table(data, text_column=text_column, label_column=label_column,
                       text_pair_column=text_pair_column, skip_empty=skip_empty)
    assert table.labels is not None
    names = label_list(network)
    check_known_labels(table.labels, names, str(data))
    label2id = {name: i for i, name in enumerate(names)}
    started = time.perf_counter()
    logits = predict_logits(network, tok, table.texts, table.text_pairs, batch_size=batch_size,
                            max_length=max_length, long_texts=long_texts, progress=progress, desc="evaluate")
    seconds = time.perf_counter() - started
    y_true = [label2id[label] for label in table.labels]
    y_pred = logits.argmax(dim=-1).tolist()
    report = classification_report(y_true, y_pred, names)
    report.setdefault("labels", names)
    report.setdefault("class_names", names)
    report["model"] = str(getattr(network, "name_or_path", model))
    report["data"] = str(data)
    report["seconds"] = seconds
    report["long_texts"] = long_text_mode(network, long_texts)
    if plot is not None:
        report["plot"] = str(plot_confusion_matrix(report, plot, title=Path(str(data)).name))
    return report


def format_confusion_matrix(report: dict[str, Any]) -> str:
    """The report's confusion matrix as a text table (rows = true class, columns = predicted)."""
    names = list(report.get("class_names") or report["per_class"])
    matrix = report["confusion_matrix"]
    corner = "true \\ predicted"
    width = max(len(corner), *(len(n) for n in names))
    cell = max(6, *(len(n) + 1 for n in names), *(len(str(v)) + 1 for row in matrix for v in row))
    lines = [f"{corner:<{width}}" + "".join(f"{n:>{cell}}" for n in names)]
    for name, row in zip(names, matrix, strict=True):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{cell}}" for v in row))
    return "\n".join(lines)


def evaluate_perplexity(
    model: str | Path | BigModel,
    data: str | Path,
    *,
    tokenizer: Any = None,
    window: int | None = None,
    stride: int | None = None,
    max_tokens: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Perplexity of a causal language model (GPT) on a UTF-8 text file, sliding window.

    ``window`` defaults to the model's context, ``stride`` to half the window;
    ``max_tokens`` scores only the first tokens of a long file.
    """
    network = get_model(model)
    if network.architecture != "GPT2LMHeadModel":
        raise BigModelError(f"perplexity needs a causal language model (GPT2LMHeadModel); "
                            f"{getattr(network, 'name_or_path', model)} is a {network.architecture}")
    tok = get_tokenizer(model if not isinstance(model, BigModel) else network, tokenizer)
    text = read_text(Path(data), "text file")
    if not text.strip():
        raise BigModelError(f"{data} holds no text")
    ids = tok.encode(text, add_special_tokens=False)
    if max_tokens is not None:
        ids = ids[:max_tokens]
    if len(ids) < 2:
        raise BigModelError(f"{data} is too short: perplexity needs at least 2 tokens, it has {len(ids)}")
    context = network.config.max_seq_len
    window = min(window or context, context)
    stride = stride or max(1, window // 2)
    if window < 2 or not 1 <= stride < window:
        raise BigModelError(f"need window >= 2 and 1 <= stride < window (each window keeps some context), "
                            f"got window={window}, stride={stride}")
    tokens = torch.tensor(ids, dtype=torch.long)
    total_nll = 0.0
    counted = 0
    ends: Any = range(min(window, len(ids)), len(ids) + stride, stride)
    if progress:
        from tqdm.auto import tqdm

        ends = tqdm(ends, desc="perplexity", unit="window", leave=False)
    scored_until = 1  # x_0 has no context: it is never scored
    was_training = network.training
    network.eval()
    try:
        with torch.inference_mode():
            for end in ends:
                end = min(end, len(ids))
                if end <= scored_until:
                    break
                start = max(0, end - window)
                chunk = tokens[start:end].unsqueeze(0).to(network.device)  # (1, T)
                logits = network(chunk).logits[0, :-1].float()  # position j predicts chunk[j + 1]
                new = end - scored_until  # the targets x_scored_until .. x_end-1
                nll = torch.nn.functional.cross_entropy(logits[-new:], chunk[0, -new:], reduction="sum")
                total_nll += float(nll)
                counted += new
                scored_until = end
    finally:
        network.train(was_training)
    mean_nll = total_nll / counted
    return {"model": str(getattr(network, "name_or_path", model)), "data": str(data), "tokens": counted,
            "mean_nll": mean_nll, "perplexity": perplexity(mean_nll), "window": window, "stride": stride}


__all__ = ["evaluate_classifier", "evaluate_perplexity", "format_confusion_matrix"]
