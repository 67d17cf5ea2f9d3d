"""``ds2ta-train`` / ``ds2ta train``: train a preset on a dataset, write OUT/model.pt and OUT/metrics.json.

Examples::

    ds2ta-train --preset tiny --dataset digits --out runs/tiny
    ds2ta-train --preset tiny-dvs --dataset digits-events --attention statten --out runs/ev
    ds2ta-train --preset cifar10 --dataset cifar10 --data-dir ~/data --out runs/c10 --device cuda
    torchrun --nproc_per_node 4 -m ds2ta.cli.train --preset cifar10 --dataset cifar10 ...
    ds2ta-train ... --resume runs/c10/model.pt        # continue an interrupted run
    ds2ta-train --preset cifar10 --dataset digits32 --batch-size 32 --checkpoint-activations ...
    ds2ta-train --preset statten-cifar10 --dataset digits32 --out runs/st   # STAtten as published (SDT-V1)
    ds2ta-train --preset tiny --attention sdsa --backbone sdt --out runs/sdsa

Recipe options left unset take the dataset's defaults from :data:`RECIPES`; on ``--resume`` they take
the resumed run's recipe, and a recipe option that differs from it is refused by name (the optimizer
and schedule states continue that recipe). An ``--out`` holding another run's model (other model
config, dataset or recipe) is refused unless ``--force``; the same run may be written again.

From Python: ``train(TrainOptions(out="runs/tiny", preset="tiny", epochs=5))`` (what ``ds2ta demo`` calls).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

from ds2ta.config import ATTENTIONS, BACKBONES, PRESETS, SDSA_POOLS
from ds2ta.data import DATASETS

# Default recipe per dataset (CLI flags override). CIFAR/DVS follow Spikformer (docs/training.md);
# digits is tuned to reach >= 95 % within minutes on a 2-core CPU (benchmarks/train_digits.py).
RECIPES: dict[str, dict] = {
    "digits": dict(epochs=20, batch_size=64, lr=2e-3, weight_decay=0.01, warmup_epochs=1,
                   mixup=0.0, label_smoothing=0.1),
    "digits-events": dict(epochs=20, batch_size=64, lr=2e-3, weight_decay=0.01, warmup_epochs=1,
                          mixup=0.0, label_smoothing=0.1),
    # The dvs preset at DVS size on generated events; DVS-like recipe, untuned.
    "digits-events128": dict(epochs=20, batch_size=16, lr=1e-3, weight_decay=0.06, warmup_epochs=1,
                             mixup=0.0, label_smoothing=0.1),
    "digits32": dict(epochs=10, batch_size=64, lr=1e-3, weight_decay=0.06, warmup_epochs=1,
                     mixup=0.0, label_smoothing=0.1),
    "cifar10": dict(epochs=300, batch_size=128, lr=5e-4, weight_decay=0.06, warmup_epochs=20,
                    mixup=0.5, label_smoothing=0.1),
    "cifar100": dict(epochs=300, batch_size=128, lr=5e-4, weight_decay=0.06, warmup_epochs=20,
                     mixup=0.5, label_smoothing=0.1),
    "dvs-gesture": dict(epochs=200, batch_size=16, lr=1e-3, weight_decay=0.06, warmup_epochs=10,
                        mixup=0.0, label_smoothing=0.1),
    "cifar10-dvs": dict(epochs=200, batch_size=16, lr=1e-3, weight_decay=0.06, warmup_epochs=10,
                        mixup=0.0, label_smoothing=0.1),
}
DEFAULT_DATASET = "digits"
DEFAULT_PRESET = {"digits": "tiny", "digits-events": "tiny-dvs", "digits-events128": "dvs",
                  "digits32": "cifar10",
                  "cifar10": "cifar10",
                  "cifar100": "cifar100", "dvs-gesture": "dvs", "cifar10-dvs": "dvs"}


def build_parser(prog: str = "ds2ta-train") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Train a DS2TA spiking transformer.")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="model preset (default: the dataset's, e.g. tiny for digits)")
    p.add_argument("--dataset", choices=DATASETS, default=None,
                   help=f"training data (default: {DEFAULT_DATASET}, or the resumed run's)")
    p.add_argument("--attention", choices=ATTENTIONS, default=None,
                   help="attention on the same backbone (default: the preset's, ds2ta)")
    p.add_argument("--backbone", choices=BACKBONES, default=None,
                   help="spikformer (spike-count residual stream) or sdt (Spike-driven Transformer V1 with "
                        "a membrane shortcut, STAtten's backbone); default: the preset's")
    p.add_argument("--out", required=True, help="output folder for model.pt and metrics.json")
    p.add_argument("--data-dir", default=None, help="folder with CIFAR / DVS files (never downloaded)")
    p.add_argument("--T", type=int, default=None, help="time steps (event data: frames per sample)")
    p.add_argument("--attn-scale", type=float, default=None,
                   help="s in Z = LIF(s A V) (default: 1/8; statten: STAtten's 1/H or 1/(H H chunk))")
    p.add_argument("--input-mean", type=float, nargs="+", default=None, metavar="M",
                   help="per-channel input normalisation: the model computes (x - M) / S on its input "
                        "(pixels / 255), e.g. 0.4914 0.4822 0.4465; exact on the chip (docs/model.md)")
    p.add_argument("--input-std", type=float, nargs="+", default=None, metavar="S",
                   help="per-channel std of the input normalisation (with --input-mean)")
    p.add_argument("--sdsa-pool", choices=SDSA_POOLS, default=None,
                   help="SDSA on event data (sdt backbone): 'official' pools K*V and the output 3x3 over each "
                        "head's (flat token, channel) plane as STAtten's code does (default); 'grid' over the "
                        "token grid (docs/model.md)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="global batch over all torchrun processes")
    p.add_argument("--lr", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--warmup-epochs", type=float)
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--mixup", type=float, help="mixup Beta alpha; 0 = off")
    p.add_argument("--loss", choices=("mean", "tet"), default=None,
                   help="mean: cross-entropy of the time-mean logits (default); tet: Temporal Efficient "
                        "Training, per-step cross-entropy + lambda MSE (STAtten's DVS configs)")
    p.add_argument("--tet-lambda", type=float, default=None, help="TET's MSE weight (default 1e-3)")
    p.add_argument("--no-augment", action="store_true", help="no CIFAR augmentation")
    p.add_argument("--seed", type=int, default=None, help="seed of weights, shuffling, augmentation (default 0)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--no-amp", action="store_true", help="full precision on CUDA")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--eval-every", type=int, default=1)
    p.add_argument("--resume", default=None, help="checkpoint (OUT/model.pt) to continue from")
    p.add_argument("--force", action="store_true", help="replace another run's model.pt in --out")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--checkpoint-activations", action="store_true",
                   help="recompute SPS and block activations in backward: less memory, same "
                        "gradients, slower steps (docs/training.md, Memory)")
    return p


@dataclass
class TrainOptions:
    """One training run: the fields are ``ds2ta-train``'s options (``--no-progress`` -> ``no_progress``)
    with the same defaults (tests/ds2ta/test_cli.py checks they agree). None takes the dataset's recipe
    (:data:`RECIPES`), the preset's model field, or on ``resume`` the resumed run's."""

    out: str                                          # folder for model.pt and metrics.json
    preset: Optional[str] = None                      # model preset (ds2ta.config.PRESETS); None: the dataset's
    dataset: Optional[str] = None                     # training data (ds2ta.data.DATASETS); None: digits
    attention: Optional[str] = None                   # attention on the same backbone
    backbone: Optional[str] = None                    # "spikformer" | "sdt"
    data_dir: Optional[str] = None                    # CIFAR / DVS files (never downloaded)
    T: Optional[int] = None                           # time steps (event data: frames per sample)
    attn_scale: Optional[float] = None                # s in Z = LIF(s A V)
    input_mean: Optional[Tuple[float, ...]] = None    # per-channel input normalisation (x - M) / S
    input_std: Optional[Tuple[float, ...]] = None     # its per-channel std
    sdsa_pool: Optional[str] = None                   # SDSA pooling on event data (ds2ta.config.SDSA_POOLS)
    epochs: Optional[int] = None                      # recipe: epochs
    batch_size: Optional[int] = None                  # recipe: global batch over all torchrun processes
    lr: Optional[float] = None                        # recipe: peak learning rate
    weight_decay: Optional[float] = None              # recipe: AdamW weight decay
    warmup_epochs: Optional[float] = None             # recipe: linear warm-up epochs
    label_smoothing: Optional[float] = None           # recipe: label smoothing
    mixup: Optional[float] = None                     # recipe: mixup Beta alpha; 0 = off
    loss: Optional[str] = None                        # recipe: "mean" | "tet"
    tet_lambda: Optional[float] = None                # recipe: TET's MSE weight
    no_augment: bool = False                          # no CIFAR augmentation
    seed: Optional[int] = None                        # seed of weights, shuffling, augmentation (None: 0)
    device: str = "auto"                              # auto | cpu | cuda | cuda:N
    no_amp: bool = False                              # full precision on CUDA
    workers: int = 0                                  # DataLoader workers
    threads: Optional[int] = None                     # torch CPU threads
    eval_every: int = 1                               # epochs between test evaluations
    resume: Optional[str] = None                      # checkpoint (OUT/model.pt) to continue from
    force: bool = False                               # replace another run's model.pt in out
    no_progress: bool = False                         # no progress bars
    checkpoint_activations: bool = False              # recompute activations in backward: less memory

    def __post_init__(self):
        for k in ("input_mean", "input_std"):  # as the config stores them (argparse gives lists)
            if getattr(self, k) is not None:
                setattr(self, k, tuple(getattr(self, k)))


RECIPE_FLAGS = ("epochs", "batch_size", "lr", "weight_decay", "warmup_epochs", "label_smoothing", "mixup", "seed",
                "loss", "tet_lambda")
SPEC_KEYS = RECIPE_FLAGS + ("min_lr_ratio",)  # TrainConfig fields that shape the trained weights
MODEL_FLAGS = ("attention", "backbone", "T", "attn_scale", "input_mean", "input_std", "sdsa_pool")  # config fields


def recipe_from_args(args: TrainOptions, base: dict | None = None):
    """The :class:`TrainConfig` for the options: flags over ``base`` (a resumed run's recipe) or,
    without it, over the dataset's defaults."""
    from ds2ta.train_utils import TrainConfig

    r = {"seed": 0, **RECIPES[args.dataset or DEFAULT_DATASET]} if base is None else {k: base[k] for k in SPEC_KEYS if k in base}
    for k in RECIPE_FLAGS:
        v = getattr(args, k)
        if v is not None:
            r[k] = v
    return TrainConfig(**r, device=args.device, amp=not args.no_amp,
                       num_workers=args.workers, eval_every=args.eval_every,
                       progress=not args.no_progress,
                       checkpoint_activations=args.checkpoint_activations)


def _flag(k: str) -> str:
    return "--" + k.replace("_", "-")


def resumed_run(args: TrainOptions) -> dict:
    """The checkpoint ``--resume`` continues; fills ``args.dataset`` / ``args.preset`` from it.

    Raises:
        ValueError: no training state, or explicit options that contradict the run (each named with
            the run's value): a resumed run continues its own model and recipe.
    """
    from ds2ta.checkpoint import read_checkpoint

    ckpt = read_checkpoint(args.resume)
    ts = ckpt.get("train_state")
    if not isinstance(ts, dict) or not isinstance(ts.get("recipe"), dict):
        raise ValueError(f"--resume {args.resume}: checkpoint has no training state (exported or final "
                         "weights only); start a new run instead")
    cfg, info, recipe = ckpt["config"], ckpt["dataset"], ts["recipe"]
    given = {"dataset": (args.dataset, info.get("name")), "preset": (args.preset, info.get("preset")),
             **{k: (getattr(args, k), cfg.get(k)) for k in MODEL_FLAGS},
             **{k: (getattr(args, k), recipe.get(k)) for k in RECIPE_FLAGS}}
    bad = [f"{_flag(k)} {mine} (the run has {theirs})" for k, (mine, theirs) in given.items()
           if mine is not None and theirs is not None and mine != theirs]
    if bad:
        raise ValueError(f"--resume {args.resume}: {'; '.join(bad)}. A resumed run continues its own model "
                         "and recipe (the optimizer and schedule states hold it): drop these options to "
                         "continue it, or start a new run into another --out")
    args.dataset, args.preset = info.get("name", args.dataset), args.preset or info.get("preset")
    return ckpt


def check_out(args: TrainOptions, cfg: dict, dataset: str, tcfg) -> None:
    """Refuse an ``--out`` holding another run's model (other config, dataset or recipe) unless ``--force``.

    The checkpoint being resumed, and an earlier run of the same model, dataset and recipe (the command
    run again), may be replaced.
    """
    from ds2ta.checkpoint import read_checkpoint
    from ds2ta.outfolder import check_writable
    from ds2ta.training import CHECKPOINT_NAME

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder")
    check_writable(out)
    old = out / CHECKPOINT_NAME
    if args.force or not old.exists() or (args.resume and Path(args.resume).resolve() == old.resolve()):
        return
    fix = "choose another --out, resume it (--resume), or pass --force to replace it"
    try:
        prev = read_checkpoint(old)
    except ValueError as e:
        raise ValueError(f"--out {out} holds a {CHECKPOINT_NAME} that is not a readable ds2ta checkpoint "
                         f"({e}); {fix}") from None
    recipe = (prev.get("train_state") or {}).get("recipe") or {}
    mine = tcfg.to_dict()
    from ds2ta.config import DS2TAConfig
    try:  # the earlier run's config as this version reads it (fields added since take their old values)
        prev_cfg = DS2TAConfig.from_dict(prev["config"]).to_dict()
    except (TypeError, ValueError):
        prev_cfg = prev["config"]
    diff = sorted(k for k in set(cfg) | set(prev_cfg) if cfg.get(k) != prev_cfg.get(k))
    from ds2ta.train_utils import TrainConfig
    default = TrainConfig().to_dict()  # a run from before a recipe field existed had its default
    diff += [k for k in SPEC_KEYS if recipe.get(k, default.get(k)) != mine[k]]
    if prev["dataset"].get("name") != dataset:
        diff.append("dataset")
    if diff:
        acc = prev["metrics"].get("test_accuracy")
        raise ValueError(f"--out {out} already holds another model ({prev['dataset'].get('name')}, "
                         f"{prev['metrics'].get('epochs')} epochs, test accuracy "
                         f"{'n/a' if acc is None else f'{acc:.4f}'}; differs in {diff[:6]}): {fix}")


def train(opts: TrainOptions) -> dict:
    """Train as ``opts`` describe; writes ``OUT/model.pt`` and ``OUT/metrics.json`` after every epoch.

    A ``resume`` of a run that already finished trains and writes nothing: the metrics carry
    ``"already_finished": True`` and are the checkpoint's own.

    Returns:
        The metrics dict (``test_accuracy``, ``epochs``, ``seconds``, ``history``, ...).

    Raises:
        ValueError: Bad options or data (named), an ``out`` holding another run's model.
    """
    import torch

    from ds2ta.config import DS2TAConfig
    from ds2ta.data import get_dataset
    from ds2ta.model import DS2TA
    from ds2ta.training import build_model, fit

    args = dataclasses.replace(opts)  # resumed_run fills dataset and preset: the caller's options stay as given
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    ckpt = resumed_run(args) if args.resume else None
    args.dataset = args.dataset or DEFAULT_DATASET
    tcfg = recipe_from_args(args, ckpt["train_state"]["recipe"] if ckpt else None)
    if ckpt is not None and int(ckpt["train_state"]["epoch"]) >= tcfg.epochs:
        return {**ckpt["metrics"], "already_finished": True}
    T = args.T if ckpt is None else ckpt["config"]["T"]
    train_ds, test_ds, info = get_dataset(args.dataset, args.data_dir, T=T,
                                          augment=not args.no_augment, seed=tcfg.seed)
    preset = args.preset or DEFAULT_PRESET[args.dataset]
    if ckpt is not None:  # weights, optimizer and schedule come from the checkpoint
        model = DS2TA(DS2TAConfig.from_dict(ckpt["config"]))
    else:
        overrides = {k: getattr(args, k) for k in MODEL_FLAGS if getattr(args, k) is not None}
        model = build_model(preset, info, seed=tcfg.seed, **overrides)
    check_out(args, model.cfg.to_dict(), args.dataset, tcfg)
    info = {**info, "preset": preset}
    return fit(model, train_ds, test_ds, info, tcfg, out_dir=args.out, resume=args.resume)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns 0 on success, 2 on bad input, 130 when interrupted."""
    args = TrainOptions(**vars(build_parser().parse_args(argv)))
    try:
        metrics = train(args)
    except ValueError as e:
        print(f"ds2ta-train: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if int(os.environ.get("RANK", 0)) != 0:  # torchrun: rank 0 reports
        return 0
    summary = {k: metrics.get(k) for k in ("test_accuracy", "epochs", "seconds", "train_loss")}
    print(json.dumps(summary))
    acc = metrics.get("test_accuracy")
    acc = "n/a" if acc is None else f"{acc:.4f}"
    if metrics.get("already_finished"):
        print(f"{args.resume} already finished its {metrics.get('epochs')} epochs (test accuracy {acc}): "
              "nothing trained, nothing written")
    else:
        print(f"test accuracy {acc} after {metrics['epochs']} epochs ({metrics['seconds']:.0f} s); "
              f"checkpoint {Path(args.out) / 'model.pt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
