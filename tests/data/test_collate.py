"""Collators: MLM statistics on 10k rows, NSP balance, causal and seq2seq shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bigmodel.data.collate import CausalLMCollator, MLMMasker, NSPCollator, Seq2SeqCollator

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
VOCAB = 1000


def test_mlm_selects_15_percent_and_replaces_80_10_10_never_specials() -> None:
    rng = np.random.default_rng(0)
    rows, length = 10_000, 64
    ids = torch.from_numpy(rng.integers(5, VOCAB, size=(rows, length)))
    ids[:, 0] = CLS
    ids[:, -1] = SEP
    ids[:, 40:45] = PAD  # padding inside the attention mask is never chosen either
    mask = torch.ones_like(ids)
    mask[:, 40:45] = 0
    masker = MLMMasker(MASK, VOCAB, [PAD, UNK, CLS, SEP, MASK], probability=0.15)
    out, labels = masker(ids, np.random.default_rng(1), mask)

    selected = labels != -100
    eligible = (ids >= 5) & (mask == 1)
    assert not bool((selected & ~eligible).any()), "a special or padding token was selected"
    assert float(selected.sum() / eligible.sum()) == pytest.approx(0.15, abs=0.002)
    assert torch.equal(labels[selected], ids[selected])
    masked = out[selected] == MASK
    kept = out[selected] == ids[selected]
    replaced = ~masked & ~kept
    n = int(selected.sum())
    assert float(masked.sum()) / n == pytest.approx(0.8, abs=0.005)
    # A random draw can land on the original token (1/995): "kept" is 10% plus that sliver.
    assert float(kept.sum()) / n == pytest.approx(0.1 + 0.1 / (VOCAB - 5), abs=0.004)
    assert float(replaced.sum()) / n == pytest.approx(0.1, abs=0.004)
    assert not bool(torch.isin(out[selected][replaced], torch.tensor([PAD, UNK, CLS, SEP, MASK])).any())
    assert torch.equal(out[~selected], ids[~selected])


def test_same_generator_seed_gives_the_same_masks() -> None:
    masker = MLMMasker(MASK, VOCAB, [PAD, UNK, CLS, SEP, MASK])
    ids = torch.arange(5, 5 + 200).reshape(4, 50)
    a = masker(ids, np.random.default_rng([3, 7]))
    b = masker(ids, np.random.default_rng([3, 7]))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


class _Pairs:
    """Stand-in for SentencePairDataset: random segments are recognizable by their ids."""

    def random_segment(self, rng: np.random.Generator, length: int, avoid_document: int) -> np.ndarray:
        return np.full(length, 999, dtype=np.int64)


def test_nsp_pairs_are_half_random_with_segment_ids() -> None:
    masker = MLMMasker(MASK, VOCAB, [PAD, UNK, CLS, SEP, MASK], probability=0.15)
    collate = NSPCollator(_Pairs(), masker, cls_token_id=CLS, sep_token_id=SEP, pad_token_id=PAD, max_length=16)
    items = [{"a": np.arange(10, 15), "b": np.arange(20, 24), "document": 0} for _ in range(4000)]
    batch = collate(items, np.random.default_rng(0))
    is_random = batch["next_sentence_label"].float()
    assert float(is_random.mean()) == pytest.approx(0.5, abs=0.03)
    labels, ids = batch["labels"], batch["input_ids"]
    original = torch.where(labels != -100, labels, ids)
    has_random_b = (original == 999).any(dim=1)
    assert torch.equal(has_random_b, is_random.bool())
    row = original[0]
    assert row[0] == CLS and (row == SEP).sum() == 2 and batch["input_ids"].shape[1] <= 16
    types = batch["token_type_ids"][0][batch["attention_mask"][0] == 1]
    first_sep = int((row == SEP).nonzero()[0])
    assert types[: first_sep + 1].eq(0).all() and types[first_sep + 1:].eq(1).all()


def test_causal_collator_pads_labels_with_ignore_index() -> None:
    batch = CausalLMCollator(pad_token_id=0)([np.array([5, 6, 7]), np.array([8, 9])])
    assert batch["labels"].tolist() == [[5, 6, 7], [8, 9, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]


def test_seq2seq_collator_teacher_forces_the_shifted_target() -> None:
    batch = Seq2SeqCollator(pad_token_id=0, bos_token_id=1, eos_token_id=2)([([5, 6, 7], [8, 9]), ([5], [8])])
    assert batch["labels"].tolist() == [[8, 9, 2], [8, 2, -100]]
    assert batch["decoder_input_ids"].tolist() == [[1, 8, 9], [1, 8, 2]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
