"""The one training loop, for every objective (see :mod:`bigmodel.training.objectives`).

Per optimizer step s, with B examples per micro-batch, A accumulation steps and W processes,
the global batch is the G = B·A·W examples at positions s·G ... (s+1)·G - 1 of an endless
sequence of seeded epoch permutations. Slot k = micro·W + rank takes positions
[s·G + k·B, s·G + (k+1)·B), and its collator draws from numpy's Generator seeded with
(seed, s, k). So the data of a step depends on s alone: resuming needs only the step, and one
process with A = 2 sees exactly what two processes with A = 1 see.

The update: g = (1/A) Σ_micro ∇L (DDP also averages over ranks), clipped to ``max_grad_norm``,
then AdamW with the warmup + cosine learning rate of :mod:`bigmodel.training.optim`.

A checkpoint is a folder in the Hugging Face layout (config.json, model.safetensors, tokenizer
files) plus ``optimizer.pt`` (optimizer + scheduler) and ``trainer_state.pt`` (step, RNG
states of torch, numpy and python, the config). It is written under a temporary name and
renamed, then ``checkpoints/latest`` (one line, the folder name) is replaced atomically: a
kill at any moment leaves the previous checkpoint intact and pointed to.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
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

from ..devices import batch_to_device, resolve_device
from ..errors import BigModelError
from ..fileio import atomic_write_text, remove_stale_temporaries
from ..paths import check_output_dir
from .config import Config, load_config
from .flops import PeakCheck, measure_peak_gflops
from .objectives import Objective, get_objective
from .optim import build_optimizer, build_scheduler

CHECKPOINTS = "checkpoints"
LATEST = "latest"
STATE_FILE = "trainer_state.pt"
OPTIMIZER_FILE = "optimizer.pt"
METRICS_FILE = "metrics.jsonl"
CURVE_FILE = "loss.png"
_EVAL_SEED = 1_000_003  # keeps evaluation masks apart from any training step's


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


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "python": random.getstate(),
        # CUDA keeps its own generators (dropout on the GPU draws from them).
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_initialized():
        for index, generator in enumerate(cuda[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(generator, index)


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder from: itself, a run folder, or a checkpoints folder (via ``latest``)."""
    path = Path(path)
    for folder in (path, path / CHECKPOINTS):
        pointer = folder / LATEST
        if pointer.is_file():
            target = folder / pointer.read_text(encoding="utf-8").strip()
            if (target / STATE_FILE).is_file():
                return target
            raise BigModelError(f"{pointer} names {target.name}, which is not a complete checkpoint")
    if (path / STATE_FILE).is_file():
        return path
    if not path.exists():
        raise BigModelError(f"--resume: {path} does not exist")
    raise BigModelError(f"--resume: {path} holds no checkpoint (no {LATEST} pointer, no {STATE_FILE})")


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
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.distributed = self.world_size > 1
        self.device = self._pick_device(t.device)
        # Collectives run where their backend lives: nccl on the GPU, gloo on the CPU.
        self.comm_device = self.device if self.device.type == "cuda" else torch.device("cpu")
        if self.distributed and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.is_main = self.rank == 0
        self.out_dir = check_output_dir(t.out_dir, "config train.out_dir")

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
        self.fsdp = self.distributed and t.distributed == "fsdp"
        # FSDP swaps parameters for sharded ones: wrap before the optimizer sees them.
        self.wrapped = self._wrap(self.model)
        self.optimizer = build_optimizer(self.model, lr=t.lr, weight_decay=t.weight_decay,
                                         betas=(t.beta1, t.beta2), eps=t.eps)
        self.scheduler = build_scheduler(self.optimizer, warmup_steps=t.warmup_steps, total_steps=t.max_steps,
                                         min_lr_ratio=t.min_lr_ratio)
        self.step = 0
        self.history: list[dict[str, Any]] = []

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

    def _pick_device(self, name: str) -> torch.device:
        """``train.device`` as a torch.device; under torchrun each process takes the GPU of
        its LOCAL_RANK."""
        device = resolve_device(name, "config train.device")
        assert device is not None
        if device.type == "cuda":
            if self.distributed:
                local_rank = int(os.environ.get("LOCAL_RANK", "0"))
                if local_rank >= torch.cuda.device_count():
                    raise BigModelError(f"config train.device {name!r}: LOCAL_RANK {local_rank} has no GPU "
                                        f"(this machine has {torch.cuda.device_count()}); start at most that "
                                        "many processes per node")
                device = torch.device("cuda", local_rank)
            elif device.index is None:
                device = torch.device("cuda", torch.cuda.current_device())
            torch.cuda.set_device(device)
        return device

    def _seed_everything(self, seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def _wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        wrapped = model
        if self.distributed:
            if self.fsdp:
                # FSDP2: each Transformer block's parameters are sharded across processes and
                # gathered just in time for its forward and backward (works on CPU with gloo).
                from torch.distributed.device_mesh import init_device_mesh
                from torch.distributed.fsdp import fully_shard

                from ..nn.block import TransformerBlock

                mesh = init_device_mesh(self.device.type, (self.world_size,))
                for module in model.modules():
                    if isinstance(module, TransformerBlock):
                        fully_shard(module, mesh=mesh)
                fully_shard(model, mesh=mesh)
            else:
                from torch.nn.parallel import DistributedDataParallel

                wrapped = DistributedDataParallel(model, device_ids=[self.device] if self.device.type == "cuda"
                                                  else None)
        if self.config.train.compile:
            from ..nn.losses import keep_eager_under_compile

            keep_eager_under_compile()
            wrapped = torch.compile(wrapped)
        return wrapped

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.config.train.dtype == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # -- data ----------------------------------------------------------------------------
    def batch(self, step: int, micro: int) -> dict[str, torch.Tensor]:
        """This process's micro-batch ``micro`` of optimizer step ``step`` (module docstring)."""
        t = self.config.train
        slot = micro * self.world_size + self.rank
        first = step * t.batch_size * t.grad_accum * self.world_size + slot * t.batch_size
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
        t = self.config.train
        created = not self.out_dir.exists()
        if resume:
            self._resume(resume)
        if self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._remove_leftovers()
            self._rewrite_metrics()
        try:
            return self._train_loop(t)
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

    def _remove_leftovers(self) -> None:
        """Temporary files of a save that was killed (model, config, metrics; checkpoints)."""
        remove_stale_temporaries(self.out_dir)
        root = self.out_dir / CHECKPOINTS
        if root.is_dir():
            for stale in root.glob(".tmp-*"):
                shutil.rmtree(stale, ignore_errors=True)
            for folder in root.glob("step-*"):
                remove_stale_temporaries(folder)

    def _train_loop(self, t: Any) -> dict[str, Any]:
        flops = self.objective.flops_per_token(self.model)
        peak = t.peak_gflops or (measure_peak_gflops(torch.bfloat16 if t.dtype == "bf16" else torch.float32,
                                                     device=self.device) if flops else 0.0)
        peak_check = PeakCheck(peak, declared=bool(t.peak_gflops))
        bar = None
        if self.is_main and t.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=t.max_steps, initial=self.step, desc="training", unit="step", dynamic_ncols=True)
        last: dict[str, Any] = {}
        last_eval: dict[str, Any] = {}
        deadline = time.monotonic() + t.max_minutes * 60 if t.max_minutes > 0 else math.inf
        try:
            while self.step < t.max_steps:
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
                last = row
                if self.is_main and (self.step % t.log_every == 0 or self.step == t.max_steps or self.step == 1):
                    self._log(row)
                if bar is not None:
                    postfix = {"loss": f"{loss:.4f}", "tok/s": f"{tokens_per_s:,.0f}"}
                    if "mfu" in row:
                        postfix["mfu"] = f"{row['mfu']:.0%}"
                    bar.set_postfix(postfix, refresh=False)
                    bar.update(1)
                # Out of time: end here as if max_steps were reached (the schedule is cut short).
                out_of_time = self._agree(time.monotonic() > deadline)
                final = self.step == t.max_steps or out_of_time
                if (t.eval_every and self.step % t.eval_every == 0) or final:
                    last_eval = self.evaluate()
                    if self.is_main:
                        self._log({"step": self.step, "split": "validation"} | last_eval)
                if (t.save_every and self.step % t.save_every == 0) or final:
                    self.save_checkpoint()
                for callback in self.callbacks:
                    callback(self, row)
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
            self._write_curve()
        return {"step": self.step, "train": last, "validation": last_eval, "out_dir": str(self.out_dir)}

    def _agree(self, flag: bool) -> bool:
        """True on every process when it is true on any (clocks differ between processes)."""
        if not self.distributed:
            return flag
        value = torch.tensor([float(flag)], device=self.comm_device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

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
                              device=self.comm_device)
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
                              device=self.comm_device)
        if self.distributed and not self.fsdp:
            dist.all_reduce(values)
        count_all = max(1.0, float(values[-1]))
        averaged = {k: float(values[i]) / count_all for i, k in enumerate(keys)}
        return self.objective.summarize(averaged)

    # -- logging -------------------------------------------------------------------------
    def _log(self, row: dict[str, Any]) -> None:
        self.history.append(row)
        line = json.dumps(row, ensure_ascii=False)
        with open(self.out_dir / METRICS_FILE, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def _rewrite_metrics(self) -> None:
        """Keep the rows up to the current step (a resumed run continues the same file)."""
        path = self.out_dir / METRICS_FILE
        rows: list[dict[str, Any]] = []
        if path.is_file() and self.step > 0:
            for line in path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(json.JSONDecodeError):
                    row = json.loads(line)
                    if row.get("step", 0) <= self.step:
                        rows.append(row)
        self.history = rows
        atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    def _write_curve(self) -> None:
        from .curves import plot_losses

        train = [(r["step"], r["loss"]) for r in self.history if r.get("split") == "train"]
        val = [(r["step"], r["loss"]) for r in self.history if r.get("split") == "validation" and "loss" in r]
        if train:
            plot_losses(self.out_dir / CURVE_FILE, train, val, title=f"{self.out_dir.name}: loss")

    # -- checkpoints ---------------------------------------------------------------------
    def full_model(self) -> torch.nn.Module | None:
        """The whole model on rank 0 (FSDP gathers its shards: every rank must call this)."""
        if not self.fsdp:
            return self.model if self.is_main else None
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        state = get_model_state_dict(self.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if not self.is_main:
            return None
        plain = type(self.model)(self.model.config)
        plain.load_state_dict(state)
        return plain

    def save_model(self, directory: str | Path, model: torch.nn.Module | None = None) -> Path:
        """The model in the Hugging Face layout plus the objective's files (tokenizer)."""
        directory = Path(directory)
        (model or self.model).save_pretrained(directory)
        self.objective.save_artifacts(directory)
        return directory

    def _optimizer_state(self) -> dict[str, Any]:
        if not self.fsdp:
            return self.optimizer.state_dict()
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_optimizer_state_dict,
        )

        return get_optimizer_state_dict(self.model, self.optimizer,
                                        options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def save_checkpoint(self) -> Path | None:
        """Write ``checkpoints/step-N`` atomically and point ``latest`` at it (rank 0 only).

        Saving leaves the random number generators as it found them (building a merged copy of
        a LoRA model initializes layers), so a run that saves continues exactly like the run
        resumed from that save.
        """
        rng = _rng_state()
        try:
            return self._save_checkpoint(rng)
        finally:
            _set_rng_state(rng)

    def _save_checkpoint(self, rng: dict[str, Any]) -> Path | None:
        if self.distributed:
            states: list[Any] = [None] * self.world_size
            dist.all_gather_object(states, rng)
        else:
            states = [rng]
        model = self.full_model()
        optimizer_state = self._optimizer_state()
        if not self.is_main:
            return None
        root = self.out_dir / CHECKPOINTS
        root.mkdir(parents=True, exist_ok=True)
        name = f"step-{self.step:08d}"
        tmp = root / f".tmp-{name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            self.save_model(tmp, model)
            torch.save({"optimizer": optimizer_state, "scheduler": self.scheduler.state_dict()},
                       tmp / OPTIMIZER_FILE)
            state = {
                "step": self.step,
                "world_size": self.world_size,
                "rng": states,
                "architecture": self.model.architecture,
                "model_config": json.loads(json.dumps(self.model.config.to_dict(), default=str)),
                "config": self.config.to_dict(),
            }
            torch.save(state, tmp / STATE_FILE)
            _fsync_tree(tmp)
            final = root / name
            if final.exists():
                _discard(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        atomic_write_text(root / LATEST, name + "\n")
        self._prune(root, keep=name)
        return final

    def _prune(self, root: Path, keep: str) -> None:
        done = sorted(p for p in root.glob("step-*") if p.is_dir() and p.name != keep)
        for old in done[: max(0, len(done) - (self.config.train.keep_checkpoints - 1))]:
            _discard(old)
        for stale in root.glob(".tmp-*"):  # left by a killed save
            if not stale.name.endswith(f"-{os.getpid()}"):
                shutil.rmtree(stale, ignore_errors=True)

    def load_checkpoint(self, path: str | Path) -> Path:
        """Restore model, optimizer, scheduler, step and RNG states from a checkpoint."""
        from .. import hub

        folder = find_checkpoint(path)
        try:
            state = hub.load_tensors_only(folder / STATE_FILE)
            opt_state = hub.load_tensors_only(folder / OPTIMIZER_FILE)
        except pickle.UnpicklingError:
            # torch's own message suggests weights_only=False, i.e. running the file's code: no.
            raise BigModelError(f"checkpoint {folder} holds more than plain tensors and numbers; "
                                f"refused to unpickle it (only checkpoints bigmodel wrote can resume)") from None
        except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: say which
            reason = str(exc).splitlines()[0][:160] if str(exc) else ""
            raise BigModelError(f"checkpoint {folder} cannot be read ({type(exc).__name__}: {reason})") from None
        self._check_same_model(folder, state)
        from ..nn.lora import ADAPTER_WEIGHTS, load_adapter, lora_layers

        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import (
                StateDictOptions,
                set_model_state_dict,
                set_optimizer_state_dict,
            )

            options = StateDictOptions(full_state_dict=True)
            set_model_state_dict(self.model, hub.load(folder).state_dict(), options=options)
            set_optimizer_state_dict(self.model, self.optimizer, opt_state["optimizer"], options=options)
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
        _set_rng_state(rngs[self.rank] if self.rank < len(rngs) else rngs[0])
        return folder

    def _check_same_model(self, folder: Path, state: dict[str, Any]) -> None:
        ours = json.loads(json.dumps(self.model.config.to_dict(), default=str))
        theirs = state.get("model_config", {})
        if state.get("architecture") != self.model.architecture:
            raise BigModelError(
                f"checkpoint {folder} is a {state.get('architecture')}, but this config trains a "
                f"{self.model.architecture}; resume from a checkpoint of the same model"
            )
        for key in list(ours) + [k for k in theirs if k not in ours]:  # config order: d_model before d_ff
            if key in ("dropout", "attn_dropout", "classifier_dropout", "extra"):
                continue
            if ours.get(key) != theirs.get(key):
                raise BigModelError(
                    f"checkpoint {folder} has {key}={theirs.get(key)!r}, but this config builds "
                    f"{key}={ours.get(key)!r}; resume from a checkpoint of the same model"
                )


def _discard(folder: Path) -> None:
    """Delete a checkpoint folder; a kill midway leaves a ``.tmp-`` folder, never a half one."""
    trash = folder.with_name(f".tmp-discard-{folder.name}")
    shutil.rmtree(trash, ignore_errors=True)
    os.replace(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def train(config: Config | str | Path | dict[str, Any], overrides: list[str] | None = None,
          resume: str | Path | bool | None = None, device: str | torch.device | None = None,
          ) -> dict[str, Any] | None:
    """``bigmodel train``: build a :class:`Trainer` and run it; None on ranks other than 0."""
    trainer = Trainer(config, overrides, device=device)
    try:
        result = trainer.train(resume=resume)
        return result if trainer.is_main else None
    finally:
        if trainer.distributed and dist.is_initialized():
            dist.destroy_process_group()


__all__ = ["EpochSampler", "Trainer", "find_checkpoint", "train"]
