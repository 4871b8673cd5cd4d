"""Which examples each micro-batch of each step takes: a function of the step alone.

Per optimizer step s, with B examples per micro-batch, A accumulation steps and W processes,
the global batch is the G = B·A·W examples at positions s·G ... (s+1)·G - 1 of an endless
sequence of seeded epoch permutations. Slot k = micro·W + rank takes positions
[s·G + k·B, s·G + (k+1)·B), and its collator draws from numpy's Generator seeded with
(seed, s, k). So resuming needs only the step, and one process with A = 2 sees exactly what
two processes with A = 1 see.
"""

from __future__ import annotations

import numpy as np

from ..errors import BigModelError


class EpochSampler:
    """Position k of the endless stream -> example index, one seeded permutation per epoch."""

    def __init__(self, size: int, seed: int) -> None:
        if size < 1:
            raise BigModelError("the training set is empty")
        self.size = size
        self.seed = seed
        self._epoch = -1
        self._perm: np.ndarray = np.arange(0)

    def __call__(self, position: int) -> int:
        epoch, offset = divmod(position, self.size)
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.size)
            self._epoch = epoch
        return int(self._perm[offset])


def micro_batch_slot(micro: int, world_size: int, rank: int) -> int:
    """k = micro·W + rank: the slot of this process's micro-batch within the global batch."""
    return micro * world_size + rank


def first_position(step: int, slot: int, batch_size: int, grad_accum: int, world_size: int) -> int:
    """s·G + k·B, G = B·A·W: the stream position of the slot's first example."""
    return step * batch_size * grad_accum * world_size + slot * batch_size


__all__ = ["EpochSampler", "first_position", "micro_batch_slot"]
