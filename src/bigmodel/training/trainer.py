"""The one training loop, for every objective (see :mod:`bigmodel.training.objectives`).

Which examples a step takes is :mod:`~bigmodel.training.data_order`'s (a function of the
step alone, so resuming needs only the step); where each process runs and how the model is
wrapped for DDP/FSDP is :mod:`~bigmodel.training.distributed`'s; checkpoint folders are
:mod:`~bigmodel.training.checkpoints`' and the metrics file :mod:`~bigmodel.training.metrics_log`'.

The update: g = (1/A) Σ_micro ∇L (DDP also averages over ranks), clipped to ``max_grad_norm``,
then AdamW with the warmup + cosine learning rate of :mod:`bigmodel.training.optim`.
"""

from __future__ import annotations

import contextlib
import math
import random
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from ..devices import batch_to_device
from ..errors import BigModelError
from ..paths import check_output_dir
from .checkpoints import (
    CHECKPOINTS,
    LATEST,
    OPTIMIZER_FILE,
    STATE_FILE,
    capture_rng,
    check_same_model,
    find_checkpoint,
    model_identity,
    read_checkpoint,
    remove_leftovers,
    restore_rng,
    write_checkpoint,
)
from .config import Config, load_config
from .data_order import EpochSampler, first_position, micro_batch_slot
from .distributed import (
    gather_full_model,
    gather_optimizer_state,
    join_run,
    leave_run,
    load_sharded_states,
    wrap_model,
)
from .flops import PeakCheck, measure_peak_gflops
from .metrics_log import CURVE_FILE, METRICS_FILE, MetricsLog
from .objectives import Objective, get_objective
from .optim import build_optimizer, build_scheduler

_EVAL_SEED = 1_000_003  # keeps evaluation masks apart from any training step's


class Trainer:
    """``Trainer(config).train()``; ``config`` is a :class:`Config`, a TOML path or a dict.

    ``callbacks`` are called after every step with (trainer, row), row being the logged
    metrics of that step; raising from one stops the run (the last checkpoint stays valid).
    ``device`` (cpu, cuda, cuda:N, mps, auto) overrides the config's ``train.device``.
    """

    def __init__(self, config: Config | str | Path | dict[str, Any], overrides: list[str] | None = None,
                 callbacks: list[Callable[[Trainer, dict[str, Any]], None]] | None = None,
                 device: str | torch.device | None = None) -> None:
        self.config = config if isinstance(config, Config) else load_config(config, overrides)
        if device is not None:
            self.config.train.device = str(device)
        self.callbacks = list(callbacks or [])
        t = self.config.train
        if t.num_threads:
            torch.set_num_threads(t.num_threads)
        self.place = join_run(t.device, t.distributed)
        self.world_size, self.rank, self.device = self.place.world_size, self.place.rank, self.place.device
        self.distributed, self.fsdp, self.is_main = self.place.distributed, self.place.fsdp, self.place.is_main
        self.out_dir = check_output_dir(t.out_dir, "config train.out_dir")
        self.metrics = MetricsLog(self.out_dir)

        self._seed_everything(t.seed)
        self.objective: Objective = get_objective(self.config.task.kind)(self.config)
        self.objective.tokenizer = self.objective.build_tokenizer()
        # An objective may bring its own per-step hooks (early stopping, a time budget).
        for callback in getattr(self.objective, "callbacks", lambda: [])():
            if callback not in self.callbacks:
                self.callbacks.append(callback)
        # Built on the CPU (the same initial weights on every device), then moved once.
        self.model = self.objective.build_model().to(self.device)
        self._check_vocabulary()
        self.model.train()
        self.train_set, self.val_set = self.objective.build_datasets()
        self.sampler = EpochSampler(len(self.train_set), t.seed)
        self.wrapped = wrap_model(self.model, self.place, compile=t.compile)
        self.optimizer = build_optimizer(self.model, lr=t.lr, weight_decay=t.weight_decay,
                                         betas=(t.beta1, t.beta2), eps=t.eps)
        self.scheduler = build_scheduler(self.optimizer, warmup_steps=t.warmup_steps, total_steps=t.max_steps,
                                         min_lr_ratio=t.min_lr_ratio)
        self.step = 0

    @property
    def history(self) -> list[dict[str, Any]]:
        """The rows logged so far (train steps, evaluations, an objective's own rows)."""
        return self.metrics.rows

    def log(self, row: dict[str, Any]) -> None:
        """Append ``row`` to the history and to ``metrics.jsonl``."""
        self.metrics.append(row)

    # -- set-up --------------------------------------------------------------------------
    def _check_vocabulary(self) -> None:
        """Every id the tokenizer can give must have a row in the model's embedding table."""
        tok = self.objective.tokenizer
        vocab = getattr(getattr(self.model, "config", None), "vocab_size", None)
        if tok is None or not isinstance(vocab, int) or not hasattr(tok, "__len__"):
            return
        if len(tok) > vocab:
            raise BigModelError(f"config model.config.vocab_size={vocab} is smaller than the tokenizer's "
                                f"{len(tok)} ids; remove it (the tokenizer's size is the default) or use "
                                f">= {len(tok)}")

    def _seed_everything(self, seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.config.train.dtype == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # -- data ----------------------------------------------------------------------------
    def batch(self, step: int, micro: int) -> dict[str, torch.Tensor]:
        """This process's micro-batch ``micro`` of optimizer step ``step`` (see data_order)."""
        t = self.config.train
        slot = micro_batch_slot(micro, self.world_size, self.rank)
        first = first_position(step, slot, t.batch_size, t.grad_accum, self.world_size)
        items = [self.train_set[self.sampler(first + j)] for j in range(t.batch_size)]
        return self.objective.collate(items, np.random.default_rng([t.seed, step, slot]))

    def _eval_batches(self) -> list[int]:
        """Batches this process evaluates: a share under DDP; all of them under FSDP, whose
        forward is collective and must run the same number of times on every process."""
        n = len(self.val_set)
        count = min(self.config.train.eval_batches, math.ceil(n / self.config.train.batch_size))
        if self.fsdp:
            return list(range(count))
        return [i for i in range(count) if i % self.world_size == self.rank]

    # -- the loop ------------------------------------------------------------------------
    def train(self, resume: str | Path | bool | None = None) -> dict[str, Any]:
        """Run to ``train.max_steps``; returns the last train and evaluation figures."""
        created = not self.out_dir.exists()
        if resume:
            self._resume(resume)
        if self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            remove_leftovers(self.out_dir)
            self.metrics.keep_until(self.step)
        try:
            return self._train_loop()
        except BaseException:
            # A run that fails before its first checkpoint leaves no half-made folder.
            if self.is_main and created and not (self.out_dir / CHECKPOINTS / LATEST).is_file():
                shutil.rmtree(self.out_dir, ignore_errors=True)
            raise

    def _resume(self, resume: str | Path | bool) -> None:
        """``True``: the run's latest checkpoint, or a fresh start when it has none yet (a
        restart loop that always passes --resume recovers from a kill before the first save);
        ``"require"`` or a folder: that checkpoint must exist."""
        if resume is True:
            try:
                find_checkpoint(self.out_dir)
            except BigModelError:
                if self.is_main:
                    print(f"note: --resume: {self.out_dir} holds no checkpoint yet; starting from step 0",
                          file=sys.stderr, flush=True)
                return
            self.load_checkpoint(self.out_dir)
        elif resume == "require":
            self.load_checkpoint(self.out_dir)
        else:
            self.load_checkpoint(resume)

    def _progress_bar(self) -> Any:
        if not (self.is_main and self.config.train.progress):
            return None
        from tqdm.auto import tqdm

        return tqdm(total=self.config.train.max_steps, initial=self.step, desc="training", unit="step",
                    dynamic_ncols=True)

    def _train_loop(self) -> dict[str, Any]:
        t = self.config.train
        flops = self.objective.flops_per_token(self.model)
        peak = t.peak_gflops or (measure_peak_gflops(torch.bfloat16 if t.dtype == "bf16" else torch.float32,
                                                     device=self.device) if flops else 0.0)
        peak_check = PeakCheck(peak, declared=bool(t.peak_gflops))
        bar = self._progress_bar()
        last: dict[str, Any] = {}
        last_eval: dict[str, Any] = {}
        deadline = time.monotonic() + t.max_minutes * 60 if t.max_minutes > 0 else math.inf
        try:
            while self.step < t.max_steps:
                last = self._timed_step(flops, peak, peak_check)
                if bar is not None:
                    _show_progress(bar, last)
                # Out of time: end here as if max_steps were reached (the schedule is cut short).
                out_of_time = self.place.agree(time.monotonic() > deadline)
                figures = self._after_step(last, final=self.step == t.max_steps or out_of_time)
                if figures is not None:
                    last_eval = figures
                if out_of_time:
                    break
        except BaseException:
            if bar is not None:
                bar.leave = False  # the error line follows; no finished-looking bar above it
            raise
        finally:
            if bar is not None:
                bar.close()
        model = self.full_model()
        if self.is_main:
            self.save_model(self.out_dir, model)
            self.metrics.plot()
        return {"step": self.step, "train": last, "validation": last_eval, "out_dir": str(self.out_dir)}

    def _timed_step(self, flops: float, peak: float, peak_check: PeakCheck) -> dict[str, Any]:
        """One optimizer step; its row (loss, lr, grad norm, throughput, MFU) is logged on
        the first, every ``log_every``-th and the last step."""
        t = self.config.train
        started = time.perf_counter()
        loss, metrics, tokens, grad_norm = self._train_step(self.step)
        seconds = time.perf_counter() - started
        self.step += 1
        tokens_per_s = tokens / seconds if seconds > 0 else 0.0
        row = {"step": self.step, "split": "train", "loss": loss, "lr": self.scheduler.get_last_lr()[0],
               "grad_norm": grad_norm, "tokens_per_s": tokens_per_s}
        if flops and peak:
            row["mfu"] = peak_check.mfu(flops, tokens_per_s, self.world_size)
        row |= metrics
        if self.is_main and (self.step % t.log_every == 0 or self.step == t.max_steps or self.step == 1):
            self.log(row)
        return row

    def _after_step(self, row: dict[str, Any], final: bool) -> dict[str, Any] | None:
        """Evaluate, save and call back as the config asks; the evaluation's figures, if any."""
        t = self.config.train
        figures = None
        if (t.eval_every and self.step % t.eval_every == 0) or final:
            figures = self.evaluate()
            if self.is_main:
                self.log({"step": self.step, "split": "validation"} | figures)
        if (t.save_every and self.step % t.save_every == 0) or final:
            self.save_checkpoint()
        for callback in self.callbacks:
            callback(self, row)
        return figures

    def _train_step(self, step: int) -> tuple[float, dict[str, float], int, float]:
        t = self.config.train
        self.wrapped.train()
        total = torch.zeros((), device=self.device)
        sums: dict[str, float] = {}
        tokens = 0
        for micro in range(t.grad_accum):
            batch = batch_to_device(self.batch(step, micro), self.device)
            tokens += self.objective.count_tokens(batch)
            # DDP/FSDP reduce gradients on backward; only the last micro-batch needs to.
            last_micro = micro == t.grad_accum - 1
            if self.fsdp:
                self.model.set_requires_gradient_sync(last_micro)
            skip_sync = self.distributed and not self.fsdp and not last_micro
            with (self.wrapped.no_sync() if skip_sync else contextlib.nullcontext()), self._autocast():
                loss, metrics = self.objective.loss(self.wrapped, batch)
            if not torch.isfinite(loss):
                raise BigModelError(f"loss became {float(loss.detach())} at step {step + 1} (train.lr={t.lr:g}); "
                                    f"lower train.lr, or train in fp32")
            (loss / t.grad_accum).backward()
            total += loss.detach().float()
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + float(v)
        # An infinite bound measures the norm without clipping.
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.max_grad_norm or math.inf)
        grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        values = torch.tensor([float(total) / t.grad_accum, float(tokens)]
                              + [v / t.grad_accum for v in sums.values()], dtype=torch.float64,
                              device=self.place.comm_device)
        if self.distributed:
            dist.all_reduce(values)
            values[0] /= self.world_size
            values[2:] /= self.world_size
        metrics_out = {k: float(values[2 + i]) for i, k in enumerate(sums)}
        return float(values[0]), metrics_out, int(values[1]), grad_norm

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean loss and metrics over the first ``eval_batches`` validation batches."""
        if self.val_set is None or len(self.val_set) == 0:
            return {}
        t = self.config.train
        was_training = self.model.training
        self.model.eval()
        sums: dict[str, float] = {}
        count = 0
        for i in self._eval_batches():
            start = i * t.batch_size
            items = [self.val_set[j % len(self.val_set)] for j in range(start, start + t.batch_size)]
            batch = self.objective.collate(items, np.random.default_rng([t.seed, _EVAL_SEED, i]))
            batch = batch_to_device(batch, self.device)
            with self._autocast():
                loss, metrics = self.objective.loss(self.model, batch)
            for k, v in ({"loss": float(loss)} | metrics).items():
                sums[k] = sums.get(k, 0.0) + float(v)
            count += 1
        self.model.train(was_training)
        keys = sorted(sums) if sums else ["loss"]
        values = torch.tensor([sums.get(k, 0.0) for k in keys] + [float(count)], dtype=torch.float64,
                              device=self.place.comm_device)
        if self.distributed and not self.fsdp:
            dist.all_reduce(values)
        count_all = max(1.0, float(values[-1]))
        averaged = {k: float(values[i]) / count_all for i, k in enumerate(keys)}
        return self.objective.summarize(averaged)

    # -- checkpoints ---------------------------------------------------------------------
    def full_model(self) -> torch.nn.Module | None:
        """The whole model on rank 0 (FSDP gathers its shards: every rank must call this)."""
        return gather_full_model(self.model, self.place)

    def save_model(self, directory: str | Path, model: torch.nn.Module | None = None) -> Path:
        """The model in the Hugging Face layout plus the objective's files (tokenizer)."""
        directory = Path(directory)
        (model or self.model).save_pretrained(directory)
        self.objective.save_artifacts(directory)
        return directory

    def save_checkpoint(self) -> Path | None:
        """Write ``checkpoints/step-N`` atomically and point ``latest`` at it (rank 0 only).

        Saving leaves the random number generators as it found them (building a merged copy of
        a LoRA model initializes layers), so a run that saves continues exactly like the run
        resumed from that save.
        """
        rng = capture_rng()
        try:
            return self._save_checkpoint(rng)
        finally:
            restore_rng(rng)

    def _save_checkpoint(self, rng: dict[str, Any]) -> Path | None:
        if self.distributed:
            states: list[Any] = [None] * self.world_size
            dist.all_gather_object(states, rng)
        else:
            states = [rng]
        model = self.full_model()
        optimizer_state = gather_optimizer_state(self.model, self.optimizer, self.place)
        if not self.is_main:
            return None
        state = {"step": self.step, "world_size": self.world_size, "rng": states,
                 **model_identity(self.model), "config": self.config.to_dict()}
        return write_checkpoint(self.out_dir, self.step, lambda folder: self.save_model(folder, model),
                                {"optimizer": optimizer_state, "scheduler": self.scheduler.state_dict()},
                                state, keep=self.config.train.keep_checkpoints)

    def load_checkpoint(self, path: str | Path) -> Path:
        """Restore model, optimizer, scheduler, step and RNG states from a checkpoint."""
        from .. import hub
        from ..nn.lora import ADAPTER_WEIGHTS, load_adapter, lora_layers

        folder = find_checkpoint(path)
        state, opt_state = read_checkpoint(folder)
        check_same_model(folder, state, self.model)
        if self.fsdp:
            load_sharded_states(self.model, self.optimizer, hub.load(folder).state_dict(), opt_state["optimizer"])
        else:
            if (folder / ADAPTER_WEIGHTS).is_file() and lora_layers(self.model):
                # A LoRA run checkpoints its adapter (the frozen base is the pretrained model
                # the config names): load it into the wrapped model, not the merged copy.
                load_adapter(self.model, folder)
            else:
                self.model.load_state_dict(hub.load(folder).state_dict())
            self.optimizer.load_state_dict(opt_state["optimizer"])
        self.model.train()
        self.scheduler.load_state_dict(opt_state["scheduler"])
        self.step = int(state["step"])
        rngs = state["rng"]
        restore_rng(rngs[self.rank] if self.rank < len(rngs) else rngs[0])
        return folder


def _show_progress(bar: Any, row: dict[str, Any]) -> None:
    postfix = {"loss": f"{row['loss']:.4f}", "tok/s": f"{row['tokens_per_s']:,.0f}"}
    if "mfu" in row:
        postfix["mfu"] = f"{row['mfu']:.0%}"
    bar.set_postfix(postfix, refresh=False)
    bar.update(1)


def train(config: Config | str | Path | dict[str, Any], overrides: list[str] | None = None,
          resume: str | Path | bool | None = None, device: str | torch.device | None = None,
          ) -> dict[str, Any] | None:
    """``bigmodel train``: build a :class:`Trainer` and run it; None on ranks other than 0."""
    trainer = Trainer(config, overrides, device=device)
    try:
        result = trainer.train(resume=resume)
        return result if trainer.is_main else None
    finally:
        leave_run(trainer.place)


# The checkpoint and metrics file names stay importable from here, where they always were.
__all__ = ["CHECKPOINTS", "CURVE_FILE", "LATEST", "METRICS_FILE", "OPTIMIZER_FILE", "STATE_FILE", "EpochSampler",
           "Trainer", "find_checkpoint", "train"]
