"""``ds2ta-train`` / ``ds2ta train``: train a preset on a dataset, write OUT/model.pt and OUT/metrics.json.

Examples::

    ds2ta-train --preset tiny --dataset digits --out runs/tiny
    ds2ta-train --preset tiny-dvs --dataset digits-events --attention statten --out runs/ev
    ds2ta-train --preset cifar10 --dataset cifar10 --data-dir ~/data --out runs/c10 --device cuda
    torchrun --nproc_per_node 4 -m ds2ta.cli.train --preset cifar10 --dataset cifar10 ...
    ds2ta-train ... --resume runs/c10/model.pt        # continue an interrupted run
    ds2ta-train --preset cifar10 --dataset digits32 --batch-size 32 --checkpoint-activations ...

Recipe options left unset take the dataset's defaults from :data:`RECIPES`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ds2ta.config import ATTENTIONS, PRESETS
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
DEFAULT_PRESET = {"digits": "tiny", "digits-events": "tiny-dvs", "digits-events128": "dvs",
                  "digits32": "cifar10",
                  "cifar10": "cifar10",
                  "cifar100": "cifar100", "dvs-gesture": "dvs", "cifar10-dvs": "dvs"}


def build_parser(prog: str = "ds2ta-train") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Train a DS2TA spiking transformer.")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="model preset (default: the dataset's, e.g. tiny for digits)")
    p.add_argument("--dataset", choices=DATASETS, default="digits")
    p.add_argument("--attention", choices=ATTENTIONS, default=None,
                   help="attention on the same backbone (default: the preset's, ds2ta)")
    p.add_argument("--out", required=True, help="output folder for model.pt and metrics.json")
    p.add_argument("--data-dir", default=None, help="folder with CIFAR / DVS files (never downloaded)")
    p.add_argument("--T", type=int, default=None, help="time steps (event data: frames per sample)")
    p.add_argument("--attn-scale", type=float, default=None,
                   help="s in Z = LIF(s A V) (default: 1/8; statten: STAtten's 1/H or 1/(H H chunk))")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="global batch over all torchrun processes")
    p.add_argument("--lr", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--warmup-epochs", type=float)
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--mixup", type=float, help="mixup Beta alpha; 0 = off")
    p.add_argument("--no-augment", action="store_true", help="no CIFAR augmentation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--no-amp", action="store_true", help="full precision on CUDA")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--eval-every", type=int, default=1)
    p.add_argument("--resume", default=None, help="checkpoint (OUT/model.pt) to continue from")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--checkpoint-activations", action="store_true",
                   help="recompute SPS and block activations in backward: less memory, same "
                        "gradients, slower steps (docs/training.md, Memory)")
    return p


def recipe_from_args(args: argparse.Namespace):
    """The :class:`TrainConfig` for parsed arguments (flags over the dataset's defaults)."""
    from ds2ta.train_utils import TrainConfig

    r = dict(RECIPES[args.dataset])
    for k in ("epochs", "batch_size", "lr", "weight_decay", "warmup_epochs", "label_smoothing",
              "mixup"):
        v = getattr(args, k)
        if v is not None:
            r[k] = v
    return TrainConfig(**r, seed=args.seed, device=args.device, amp=not args.no_amp,
                       num_workers=args.workers, eval_every=args.eval_every,
                       progress=not args.no_progress,
                       checkpoint_activations=args.checkpoint_activations)


def run(args: argparse.Namespace) -> dict:
    """Train as described by parsed arguments; returns the metrics dict."""
    import torch

    from ds2ta.data import get_dataset
    from ds2ta.training import build_model, fit

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    tcfg = recipe_from_args(args)
    train_ds, test_ds, info = get_dataset(args.dataset, args.data_dir, T=args.T,
                                          augment=not args.no_augment, seed=args.seed)
    overrides = {}
    if args.attention is not None:
        overrides["attention"] = args.attention
    if args.T is not None:
        overrides["T"] = args.T
    if args.attn_scale is not None:
        overrides["attn_scale"] = args.attn_scale
    preset = args.preset or DEFAULT_PRESET[args.dataset]
    model = build_model(preset, info, seed=args.seed, **overrides)
    info = {**info, "preset": preset}
    return fit(model, train_ds, test_ds, info, tcfg, out_dir=args.out, resume=args.resume)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns 0 on success, 2 on bad input, 130 when interrupted."""
    args = build_parser().parse_args(argv)
    try:
        metrics = run(args)
    except ValueError as e:
        print(f"ds2ta-train: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if int(os.environ.get("RANK", 0)) != 0:  # torchrun: rank 0 reports
        return 0
    summary = {k: metrics[k] for k in ("test_accuracy", "epochs", "seconds", "train_loss")}
    print(json.dumps(summary))
    print(f"test accuracy {metrics['test_accuracy']:.4f} after {metrics['epochs']} epochs "
          f"({metrics['seconds']:.0f} s); checkpoint {args.out}/model.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
