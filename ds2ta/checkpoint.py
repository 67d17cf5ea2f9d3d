"""DS2TA checkpoints: one ``.pt`` file with config, weights, dataset/normalisation and metrics.

Format (shared by training, export and the simulators; see docs/architecture.md)::

    {"format": "ds2ta-checkpoint", "format_version": 1,
     "config": DS2TAConfig.to_dict(), "state_dict": model.state_dict(),
     "dataset": {"name": "digits", "input_scale": 1/16, "encoding": "direct", ...},
     "metrics": {"test_accuracy": ..., "epochs": ..., "seconds": ...},
     "package_version": ds2ta.__version__}

Training may add a ``"train_state"`` entry (optimizer, scheduler, RNG, epoch) used by ``--resume``;
readers other than training ignore it.

Files are written atomically by ``ds2ta.fileio`` (temporary file in the same folder, fsync, then
``os.replace``), so an interrupted save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ds2ta.fileio import DISK_ERRORS, atomic_write_bytes, atomic_write_json, json_default, write_error  # noqa: F401

FORMAT = "ds2ta-checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("format", "format_version", "config", "state_dict", "dataset", "metrics")


def _json_default(obj):
    """numpy / torch scalars and arrays, paths -> plain Python (for JSON and weights-only loading)."""
    try:
        return json_default(obj)
    except TypeError:
        raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint's dataset/metrics: use "
                        "numbers, strings, lists and dicts") from None


def plain(obj: Any) -> Any:
    """A copy of ``obj`` made of JSON types only (dict keys become strings)."""
    return json.loads(json.dumps(obj, default=_json_default))


def _unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside DistributedDataParallel / DataParallel wrappers."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def save_checkpoint(path: str | os.PathLike, model: nn.Module, dataset_info: dict,
                    metrics: dict | None = None, train_state: dict | None = None,
                    recipe: dict | None = None) -> Path:
    """Save a DS2TA model as a checkpoint file, atomically.

    Args:
        path: destination ``.pt`` file.
        model: a :class:`ds2ta.DS2TA` (possibly wrapped in DistributedDataParallel).
        dataset_info: dataset name, ``input_scale`` (x_float = x_int * input_scale), encoding, ...
        metrics: e.g. ``{"test_accuracy": 0.97, "epochs": 10, "seconds": 120.0}``.
        train_state: optional optimizer/scheduler/RNG state for resuming training.
        recipe: how weights that were not trained here came to be (an imported checkpoint: its source
            file and config, ``ds2ta.export.statten_import``); stored as ``"recipe"``.

    Returns:
        The written path.

    Raises:
        TypeError: ``model`` has no ``cfg`` (not a DS2TA model) or ``dataset_info`` is not a dict.
        ValueError: ``dataset_info`` lacks ``name`` or ``input_scale``.
    """
    from ds2ta.version import __version__

    model = _unwrap(model)
    cfg = getattr(model, "cfg", None)
    if cfg is None or not hasattr(cfg, "to_dict"):
        raise TypeError(f"save_checkpoint needs a ds2ta.DS2TA model (with .cfg), got {type(model).__name__}")
    if not isinstance(dataset_info, dict):
        raise TypeError(f"dataset_info must be a dict, got {type(dataset_info).__name__}")
    missing = [k for k in ("name", "input_scale") if k not in dataset_info]
    if missing:
        raise ValueError(f"dataset_info lacks {missing}: give at least the dataset name and its "
                         "input_scale (x_float = x_int * input_scale)")
    ckpt = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": cfg.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "dataset": plain(dataset_info),
        "metrics": plain(metrics or {}),
        "package_version": __version__,
    }
    if train_state is not None:
        ckpt["train_state"] = train_state
    if recipe is not None:
        ckpt["recipe"] = plain(recipe)
    buf = io.BytesIO()  # serialized first: torch's zip writer hides a full disk's OSError in a RuntimeError
    torch.save(ckpt, buf)
    return atomic_write_bytes(path, lambda f: f.write(buf.getbuffer()))


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read and validate the checkpoint dict without building the model.

    Raises:
        ValueError: missing file, unreadable file, or a file that is not a ds2ta checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {str(path)!r} does not exist: train one with "
                         "`ds2ta-train --out DIR` (writes DIR/model.pt)")
    try:  # weights_only: a checkpoint holds only tensors and plain containers, so no code runs
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle/zip errors come in many types
        raise ValueError(f"{str(path)!r} is not a readable ds2ta checkpoint ({_load_error(e)}); expected "
                         "a file written by ds2ta-train (plain tensors and containers only)") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        what = "a plain state dict" if isinstance(ckpt, dict) and ckpt and all(
            isinstance(v, torch.Tensor) for v in ckpt.values()) else f"a {type(ckpt).__name__}"
        raise ValueError(f"{str(path)!r} is not a ds2ta checkpoint (it holds {what} without "
                         f"format={FORMAT!r}); write checkpoints with ds2ta.checkpoint.save_checkpoint")
    if ckpt.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{str(path)!r} has ds2ta checkpoint format_version "
                         f"{ckpt.get('format_version')!r}; this package reads version {FORMAT_VERSION}")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise ValueError(f"{str(path)!r} is a damaged ds2ta checkpoint: missing entries {missing}")
    return ckpt


def _load_error(e: Exception) -> str:
    """torch.load's failure in a few words, without its advice to retry with ``weights_only=False``
    (that would run whatever code the file holds)."""
    text = str(e)
    marker = "WeightsUnpickler error:"
    if marker in text:  # a pickled class or function: name it, drop the unsafe advice
        return "it holds Python objects beyond tensors and plain containers: " + text.split(marker, 1)[1].strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def check_state_dict(model: nn.Module, state_dict: dict, source: str = "checkpoint") -> None:
    """Raise ``ValueError`` naming the first key or shape where ``state_dict`` does not fit ``model``."""
    expected = model.state_dict()
    for k, v in expected.items():
        if k not in state_dict:
            raise ValueError(f"{source}: config does not match weights: key {k!r} (shape "
                             f"{tuple(v.shape)}) expected by the config is missing from the weights")
        got = state_dict[k]
        if tuple(got.shape) != tuple(v.shape):
            raise ValueError(f"{source}: config does not match weights: {k!r} has shape "
                             f"{tuple(got.shape)} in the weights but the config builds {tuple(v.shape)}")
    extra = [k for k in state_dict if k not in expected]
    if extra:
        raise ValueError(f"{source}: config does not match weights: weight {extra[0]!r} "
                         f"(shape {tuple(state_dict[extra[0]].shape)}) has no place in the model "
                         f"built from the config ({len(extra)} unexpected keys)")


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu"
                    ) -> tuple[nn.Module, dict]:
    """Load a checkpoint and rebuild the model in eval mode.

    Args:
        path: a ``.pt`` file written by :func:`save_checkpoint`.
        map_location: device for the tensors (default CPU).

    Returns:
        ``(model, ckpt)``: the :class:`ds2ta.DS2TA` with the weights loaded, and the full dict.

    Raises:
        ValueError: missing file, not a ds2ta checkpoint, or a config that does not match the weights
            (the message names the first mismatching key and shapes).
    """
    from ds2ta.config import DS2TAConfig
    from ds2ta.model import DS2TA

    ckpt = read_checkpoint(path, map_location)
    try:
        cfg = DS2TAConfig.from_dict(ckpt["config"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{str(path)!r}: invalid config in checkpoint: {e}") from e
    model = DS2TA(cfg)
    check_state_dict(model, ckpt["state_dict"], source=str(path))
    model.load_state_dict(ckpt["state_dict"])
    model.to(map_location).eval()
    return model, ckpt
