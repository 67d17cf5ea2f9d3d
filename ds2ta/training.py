"""Training loop: AdamW + warmup/cosine, label smoothing, optional mixup, AMP on CUDA, DDP, resume.

``fit`` writes ``OUT/model.pt`` (a :mod:`ds2ta.checkpoint`) and ``OUT/metrics.json`` atomically after
every epoch, so an interruption (Ctrl-C, a killed job) leaves the last finished epoch intact and
``resume=OUT/model.pt`` continues exactly where it stopped: shuffling, augmentation and mixup are
seeded per epoch from ``(seed, epoch)``, and the optimizer and schedule states are in the checkpoint.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in DistributedDataParallel (NCCL on
CUDA, gloo on CPU); ``batch_size`` is the global batch and each process takes
``batch_size / world_size`` samples of the same permutation a single process would use. BatchNorm
statistics are per process (SyncBatchNorm needs CUDA), so multi-process runs match a single
process exactly only for models without BatchNorm.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Subset
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from ds2ta.checkpoint import check_state_dict, read_checkpoint, save_checkpoint
from ds2ta.fileio import atomic_write_json
from ds2ta.config import DS2TAConfig
from ds2ta.train_utils import (TrainConfig, all_reduce_sum, barrier, init_distributed,
                               make_scheduler, mixup_batch, param_groups, resolve_device, tet_loss)

CHECKPOINT_NAME = "model.pt"
METRICS_NAME = "metrics.json"


def _amp_context(device: torch.device, enabled: bool):
    """Autocast on CUDA (bfloat16 when supported, else float16); a no-op on CPU."""
    if device.type != "cuda" or not enabled:
        return contextlib.nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.cuda.amp.GradScaler() if dtype == torch.float16 else None
    return torch.autocast(device_type="cuda", dtype=dtype), scaler


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, batch_size: int = 256, device: str | torch.device = "cpu",
             rank: int = 0, world: int = 1, amp: bool = True) -> float:
    """Top-1 accuracy on ``dataset`` (each process takes every ``world``-th sample; summed over ranks)."""
    device = torch.device(device)
    shard = dataset if world == 1 else Subset(dataset, range(rank, len(dataset), world))
    loader = DataLoader(shard, batch_size=batch_size, shuffle=False)
    was_training = model.training
    model.eval()
    correct = total = 0
    ctx, _ = _amp_context(device, amp)
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), torch.as_tensor(y).to(device)
        with ctx:
            correct += int((model(x).argmax(1) == y).sum())
        total += int(y.numel())
    model.train(was_training)
    correct, total = all_reduce_sum([correct, total], device)
    return correct / max(total, 1)


def _load_resume(path, bare: nn.Module, opt, sched) -> tuple[int, list, float]:
    ckpt = read_checkpoint(path)
    cfg = getattr(bare, "cfg", None)
    # the stored config as this version reads it: a field added since takes the value the run was built with
    stored = DS2TAConfig.from_dict(ckpt["config"]).to_dict() if cfg is not None else None
    if cfg is not None and stored != cfg.to_dict():
        diff = sorted(k for k in stored if stored[k] != cfg.to_dict().get(k))
        raise ValueError(f"--resume {path}: the checkpoint's model config differs from this run's in "
                         f"{diff}; resume with the same preset and options")
    check_state_dict(bare, ckpt["state_dict"], source=str(path))
    ts = ckpt.get("train_state")
    if ts is None:
        raise ValueError(f"--resume {path}: checkpoint has no training state (exported or final "
                         "weights only); start a new run instead")
    bare.load_state_dict(ckpt["state_dict"])
    opt.load_state_dict(ts["optimizer"])
    sched.load_state_dict(ts["scheduler"])
    return int(ts["epoch"]), list(ts.get("history", [])), float(ts.get("seconds", 0.0))


def _train_step(net: nn.Module, opt, scaler, amp_ctx, x: torch.Tensor, y: torch.Tensor,
                tcfg: TrainConfig, mix_gen: torch.Generator) -> tuple[float, float]:
    """One optimizer step; returns ``(loss, correct predictions)`` as Python numbers.

    Nothing of the step's autograd graph outlives this call: on CPU, a graph kept alive into the next
    forward (even with its saved tensors freed by backward) raised peak RSS of the cifar10 preset at
    batch 32 from 7.1 to 11 GB through allocator fragmentation (docs/training.md, "Memory").
    """
    tet = tcfg.loss == "tet"

    def crit(out, target):
        if tet:
            return tet_loss(out, target, tcfg.label_smoothing, tcfg.tet_lambda)
        return F.cross_entropy(out, target, label_smoothing=tcfg.label_smoothing)

    with amp_ctx:
        if tcfg.mixup > 0:
            xm, ya, yb, lam = mixup_batch(x, y, tcfg.mixup, mix_gen)
            out = net(xm, steps=True) if tet else net(xm)  # any nn.Module trains; TET needs DS2TA
            loss = lam * crit(out, ya) + (1 - lam) * crit(out, yb)
        else:
            out = net(x, steps=True) if tet else net(x)
            loss = crit(out, y)
        logits = out.mean(0) if tet else out
    opt.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()
    return float(loss.detach()), float((logits.detach().argmax(1) == y).sum())


def fit(model: nn.Module, train_ds: Dataset, test_ds: Dataset, dataset_info: dict,
        tcfg: TrainConfig, out_dir: str | Path | None = None, resume: str | Path | None = None,
        stop_after: int | None = None) -> dict:
    """Train ``model`` and return the metrics dict (also written to ``out_dir/metrics.json``).

    Args:
        model: a :class:`ds2ta.DS2TA` (any ``nn.Module`` when ``out_dir`` is None and
            ``tcfg.checkpoint_activations`` is off); ``tcfg.checkpoint_activations`` switches the
            model's ``checkpoint_activations`` on.
        train_ds, test_ds: datasets yielding ``(x, label)``.
        dataset_info: the dataset's info dict (stored in the checkpoint).
        tcfg: the recipe.
        out_dir: where ``model.pt`` and ``metrics.json`` go (rank 0 writes); None writes nothing.
        resume: a checkpoint with training state to continue from.
        stop_after: stop after this many epochs of this call (the schedule still spans
            ``tcfg.epochs``); used to test interruption and resume.

    Returns:
        Metrics: ``test_accuracy``, ``epochs``, ``seconds``, ``train_loss``, ``history``, ...
    """
    device = resolve_device(tcfg.device)
    rank, world = init_distributed(device)
    if tcfg.batch_size % world:
        raise ValueError(f"batch_size={tcfg.batch_size} (global) is not divisible by the "
                         f"{world} torchrun processes")
    bare = model.to(device)
    if tcfg.checkpoint_activations:
        if not hasattr(bare, "checkpoint_activations"):
            raise ValueError(f"checkpoint_activations=True needs a ds2ta.DS2TA model, got "
                             f"{type(bare).__name__}; switch it off for other modules")
        bare.checkpoint_activations = True
    net = bare
    if world > 1:
        net = DistributedDataParallel(bare, device_ids=[device.index] if device.type == "cuda" else None)
    opt = torch.optim.AdamW(param_groups(bare, tcfg.weight_decay), lr=tcfg.lr)
    sampler = DistributedSampler(train_ds, num_replicas=world, rank=rank, shuffle=True,
                                 seed=tcfg.seed, drop_last=False)
    loader = DataLoader(train_ds, batch_size=tcfg.batch_size // world, sampler=sampler,
                        num_workers=tcfg.num_workers, pin_memory=device.type == "cuda",
                        persistent_workers=tcfg.num_workers > 0)
    sched = make_scheduler(opt, tcfg, len(loader))
    amp_ctx, scaler = _amp_context(device, tcfg.amp)
    start, history, seconds = 0, [], 0.0
    if resume is not None:
        start, history, seconds = _load_resume(resume, bare, opt, sched)
    out = Path(out_dir) if out_dir is not None else None
    metrics: dict = {}
    last_epoch = tcfg.epochs if stop_after is None else min(tcfg.epochs, start + stop_after)
    saved = False  # whether this call wrote a checkpoint (the interrupt message names only real files)
    try:
        for epoch in range(start, last_epoch):
            t0 = time.perf_counter()
            sampler.set_epoch(epoch)
            torch.manual_seed(tcfg.seed * 100_003 + epoch)  # augmentation / worker seeds per epoch
            mix_gen = torch.Generator().manual_seed(tcfg.seed * 7919 + epoch * 31 + rank)
            net.train()
            loss_sum = correct = seen = 0.0
            bar = tqdm(loader, desc=f"epoch {epoch + 1}/{tcfg.epochs}", leave=False,
                       disable=not tcfg.progress or rank != 0)
            for x, y in bar:
                x, y = x.to(device, non_blocking=True), torch.as_tensor(y).to(device)
                loss, hits = _train_step(net, opt, scaler, amp_ctx, x, y, tcfg, mix_gen)
                sched.step()
                n = y.numel()
                loss_sum += loss * n
                correct += hits
                seen += n
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", lr=f"{sched.get_last_lr()[0]:.2e}")
            loss_sum, correct, seen = all_reduce_sum([loss_sum, correct, seen], device)
            if world > 1:  # BN running statistics are per process: use rank 0's everywhere
                for buf in bare.buffers():
                    torch.distributed.broadcast(buf, 0)
            done = epoch + 1
            test_acc = None
            if done % tcfg.eval_every == 0 or done == tcfg.epochs:
                test_acc = evaluate(bare, test_ds, max(tcfg.batch_size, 256), device, rank, world,
                                    tcfg.amp)
            seconds += time.perf_counter() - t0
            history.append(dict(epoch=done, train_loss=loss_sum / seen, train_accuracy=correct / seen,
                                test_accuracy=test_acc, lr=sched.get_last_lr()[0], seconds=seconds))
            metrics = _metrics(history, tcfg, world, device, len(train_ds), seconds)
            if rank == 0:
                tqdm.write(f"epoch {done}/{tcfg.epochs}: loss {loss_sum / seen:.4f} train acc "
                           f"{correct / seen:.4f} test acc {_fmt(test_acc)} ({seconds:.0f}s)")
                if out is not None:
                    _save(out, bare, dataset_info, metrics, opt, sched, done, history, seconds, tcfg)
                    saved = True
            barrier()
    except KeyboardInterrupt:
        if rank == 0 and out is not None:
            tqdm.write(_interrupted(out / CHECKPOINT_NAME if saved else resume, len(history)))
        raise
    if not metrics and history:
        metrics = _metrics(history, tcfg, world, device, len(train_ds), seconds)
    return metrics


def _interrupted(last: str | Path | None, epochs: int) -> str:
    """What an interrupted run says: the checkpoint that holds its last finished epoch, if any."""
    if last is None:
        return "interrupted before the first epoch finished: nothing written"
    return f"interrupted: {last} holds the last finished epoch ({epochs}); continue with --resume {last}"


def _fmt(acc) -> str:
    return "n/a" if acc is None else f"{acc:.4f}"


def _metrics(history: list, tcfg: TrainConfig, world: int, device, n_train: int, seconds: float) -> dict:
    last = history[-1]
    evaluated = [h for h in history if h["test_accuracy"] is not None]
    return dict(test_accuracy=evaluated[-1]["test_accuracy"] if evaluated else None,
                test_accuracy_epoch=evaluated[-1]["epoch"] if evaluated else None,
                epochs=last["epoch"], seconds=round(seconds, 3),
                train_loss=last["train_loss"], train_accuracy=last["train_accuracy"],
                finished=last["epoch"] >= tcfg.epochs, planned_epochs=tcfg.epochs,
                samples_per_second=round(n_train * len(history) / max(seconds, 1e-9), 2),
                world_size=world, device=str(device), torch_threads=torch.get_num_threads(),
                recipe=tcfg.to_dict(), history=history)


def _save(out: Path, bare, info, metrics, opt, sched, epoch, history, seconds, tcfg) -> None:
    train_state = dict(optimizer=opt.state_dict(), scheduler=sched.state_dict(), epoch=epoch,
                       history=history, seconds=seconds, recipe=tcfg.to_dict())
    if hasattr(bare, "cfg"):
        save_checkpoint(out / CHECKPOINT_NAME, bare, info, metrics, train_state)
    atomic_write_json(out / METRICS_NAME, metrics)


def build_model(preset: str, dataset_info: dict, seed: int = 0, **overrides) -> nn.Module:
    """A seeded :class:`ds2ta.DS2TA` from a preset, with input/output sizes taken from the dataset.

    ``in_channels``, ``img_size``, ``num_classes``, ``encoding`` (and ``T`` for event data) come from
    ``dataset_info`` unless given in ``overrides``.
    """
    from ds2ta.config import make_config
    from ds2ta.model import DS2TA
    from ds2ta.train_utils import seed_everything

    io = {k: dataset_info[k] for k in ("in_channels", "img_size", "num_classes", "encoding")
          if k in dataset_info}
    if dataset_info.get("encoding") == "events" and "T" in dataset_info:
        io["T"] = dataset_info["T"]
    try:
        cfg = make_config(preset, **{**io, **overrides})
    except ValueError as e:
        raise ValueError(f"preset {preset!r} does not fit dataset {dataset_info.get('name')!r} "
                         f"({io}): {e}") from e
    seed_everything(seed)
    return DS2TA(cfg)
