"""Import a checkpoint written by STAtten's official ``train.py`` (github Intelligent-Computing-Lab-Yale/STAtten).

What the official code writes and builds (facts in ``../shared/reference/statten-official.md``):

- ``train.py`` saves through timm's ``CheckpointSaver``: a dict with ``state_dict`` (keys prefixed
  ``module.`` when saved from DistributedDataParallel), ``optimizer``, the argparse ``args``, ``epoch``,
  ``arch``, ``version``, ``metric``; a bare state dict is accepted too.
- The architecture is its yml (``conf/<dataset>/<name>.yml``) over ``train.py``'s argument defaults;
  timm's ``create_model`` drops arguments that are ``None``. The model is ``sdt`` (SDT-V1 backbone) with
  ``attention_mode="STAtten"`` (``train.py`` never passes its ``--attention_mode``); ``dvs_mode`` is on for
  the ``cifar10-dvs`` and ``ncaltech101`` datasets.
- Static images are fed as ``(x / 255 - mean) / std`` (yml ``mean``/``std``, else the model's default
  ImageNet statistics); the imported model keeps ds2ta's input (``x / 255``) and normalises itself.
- ``attn.talking_heads`` is built but unused; 1 x 1 conv weights are ds2ta ``Linear`` weights.

The file is read with a restricted unpickler: tensors, plain containers and argparse's ``Namespace``
(the ``args`` entry, kept as a plain dict) only; no code in the file runs.
"""

from __future__ import annotations

import pickle
import re
import types
from pathlib import Path
from typing import Dict, List, Tuple

import torch

from ds2ta.config import DS2TAConfig

# train.py's argument defaults for the fields the model is built from (its yml overrides them)
TRAIN_PY_DEFAULTS = {"pooling_stat": "1111", "spike_mode": "lif", "layer": 4, "in_channels": 3,
                     "num_classes": 1000, "time_steps": 4, "chunk_size": 2, "num_heads": 8, "mlp_ratio": 4,
                     "img_size": None, "TET": False, "mean": None, "std": None, "dataset": "torch/cifar10"}
MODEL_DEFAULTS = {"img_size": 128}  # SpikeDrivenTransformer's own default, used when the yml has none
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # timm _cfg() defaults
DVS_DATASETS = ("cifar10-dvs", "ncaltech101")  # train.py: args.dvs_mode = True
ATTENTION_MODES = {"STAtten": "statten", "SDT": "sdsa"}
UNUSED = re.compile(r"block\.\d+\.attn\.talking_heads\.weight$")  # built, never called in either mode

# official key -> ds2ta key (the suffix .weight / .bias / .running_mean / ... is kept)
RENAMES: List[Tuple[re.Pattern, str]] = [(re.compile(a), b) for a, b in [
    (r"^patch_embed\.proj_conv\.", "sps.convs.0."),
    (r"^patch_embed\.proj_conv(\d)\.", r"sps.convs.\1."),
    (r"^patch_embed\.proj_bn\.", "sps.bns.0."),
    (r"^patch_embed\.proj_bn(\d)\.", r"sps.bns.\1."),
    (r"^patch_embed\.rpe_(conv|bn)\.", r"sps.rpe_\1."),
    (r"^block\.(\d+)\.attn\.([qkv])_conv\.", r"blocks.\1.attn.core.\2.linear."),
    (r"^block\.(\d+)\.attn\.([qkv])_bn\.", r"blocks.\1.attn.core.\2.bn."),
    (r"^block\.(\d+)\.attn\.proj_conv\.", r"blocks.\1.attn.proj.linear."),
    (r"^block\.(\d+)\.attn\.proj_bn\.", r"blocks.\1.attn.proj.bn."),
    (r"^block\.(\d+)\.mlp\.(fc[12])_conv\.", r"blocks.\1.mlp.\2.linear."),
    (r"^block\.(\d+)\.mlp\.(fc[12])_bn\.", r"blocks.\1.mlp.\2.bn."),
    (r"^head\.", "head."),
]]


class StattenImportError(ValueError):
    """A checkpoint or config that cannot be imported (a ``ValueError``: the CLI's exit 2)."""


def read_official_config(path: str | Path) -> dict:
    """The official yml over ``train.py``'s defaults (the arguments the model is built from)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise StattenImportError(f"--config {p}: no such file; give the official yml the model was trained with "
                           "(e.g. conf/cifar10/2_256_200E_t4.yml of the STAtten code)")
    try:
        y = yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise StattenImportError(f"--config {p} is not a readable yml ({type(e).__name__}: {str(e).splitlines()[0]})") \
            from None
    if not isinstance(y, dict):
        raise StattenImportError(f"--config {p} holds no key-value settings; give the official training yml")
    if "dim" not in y:
        raise StattenImportError(f"--config {p} has no 'dim' (the embedding width every official yml sets): "
                           "not a STAtten training config")
    a = {**TRAIN_PY_DEFAULTS, **y}
    if a["spike_mode"] != "lif":
        raise StattenImportError(f"--config {p}: spike_mode {a['spike_mode']!r} is not imported (only 'lif', the "
                           "official configs' neuron: fixed tau 2, threshold 1, hard reset)")
    return a


def config_from_official(a: dict, attention_mode: str = "STAtten") -> DS2TAConfig:
    """The ds2ta configuration of the official model built from the arguments ``a``."""
    if attention_mode not in ATTENTION_MODES:
        raise StattenImportError(f"--attention-mode {attention_mode!r}: choose one of {sorted(ATTENTION_MODES)}")
    dvs = str(a["dataset"]) in DVS_DATASETS
    img = a["img_size"] if a["img_size"] is not None else MODEL_DEFAULTS["img_size"]
    norm = {}
    if not dvs:  # timm's loader normalises static images; the DVS frames go in as they are
        mean = a["mean"] if a["mean"] is not None else IMAGENET_MEAN
        std = a["std"] if a["std"] is not None else IMAGENET_STD
        norm = dict(input_mean=tuple(float(v) for v in mean), input_std=tuple(float(v) for v in std))
    try:
        return DS2TAConfig(img_size=int(img), in_channels=int(a["in_channels"]), num_classes=int(a["num_classes"]),
                           embed_dim=int(a["dim"]), depth=int(a["layer"]), heads=int(a["num_heads"]),
                           mlp_ratio=int(a["mlp_ratio"]), T=int(a["time_steps"]), chunk=int(a["chunk_size"]),
                           pool_stages=str(a["pooling_stat"]), encoding="events" if dvs else "direct",
                           attention=ATTENTION_MODES[attention_mode], backbone="sdt", dvs_pool=dvs,
                           **norm)
    except ValueError as e:
        raise StattenImportError(f"the official config does not make a model ds2ta builds: {e}") from None


def _restricted_pickle() -> types.SimpleNamespace:
    """A pickle module for ``torch.load`` that builds only what torch's weights-only loader allows, plus
    argparse's ``Namespace`` (timm's checkpoints store the training arguments in one)."""
    from torch._weights_only_unpickler import _get_allowed_globals

    class Args(dict):  # argparse.Namespace's attributes, as a plain dict
        def __setstate__(self, state):
            self.update(state)

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) == ("argparse", "Namespace"):
                return Args
            allowed = _get_allowed_globals()
            key = f"{module}.{name}"
            if key in allowed:
                return allowed[key]
            raise pickle.UnpicklingError(f"it holds a Python object {key} (only tensors, plain containers "
                                         "and the training arguments are read)")

    return types.SimpleNamespace(Unpickler=Unpickler, load=lambda f, **k: Unpickler(f, **k).load(),
                                 __name__="ds2ta_restricted_pickle")


def read_official_checkpoint(path: str | Path) -> Tuple[Dict[str, torch.Tensor], dict]:
    """``(state_dict, info)`` of an official checkpoint; ``info`` holds ``epoch``, ``metric``, ``arch`` when
    the file has them. ``module.`` prefixes (DistributedDataParallel) are removed."""
    p = Path(path)
    if not p.is_file():
        raise StattenImportError(f"{p}: no such file; give the checkpoint STAtten's train.py wrote "
                           "(e.g. output/train/<run>/model_best.pth.tar)")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=False, pickle_module=_restricted_pickle())
    except Exception as e:  # zip, pickle and EOF errors come in many types
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise StattenImportError(f"{p} is not a readable STAtten checkpoint ({type(e).__name__}: {msg}); expected "
                           "the file train.py writes (a torch zip archive), complete") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        sd, info = obj["state_dict"], {k: obj[k] for k in ("epoch", "metric", "arch") if k in obj}
    elif isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        sd, info = obj, {}
    else:
        raise StattenImportError(f"{p} holds a {type(obj).__name__} with neither a 'state_dict' entry nor tensors "
                           "only: not a STAtten checkpoint")
    sd = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in sd.items()}
    if not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise StattenImportError(f"{p}: its state_dict holds entries that are not tensors")
    if any(k.startswith("blocks.") or k.startswith("sps.") for k in sd):
        raise StattenImportError(f"{p} looks like a ds2ta state dict, not an official STAtten one: export the "
                           "ds2ta-train checkpoint (model.pt) without --from")
    return sd, {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in info.items()}


def rename(key: str) -> str | None:
    for pat, rep in RENAMES:
        if pat.search(key):
            return pat.sub(rep, key, count=1)
    return None


def map_state_dict(official: Dict[str, torch.Tensor], target: Dict[str, torch.Tensor], source: str = "checkpoint"
                   ) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """The official state dict in ds2ta names and shapes, checked key by key against ``target`` (the
    state dict of the ds2ta model built from the config). Returns ``(state_dict, unused official keys)``.

    Raises:
        StattenImportError: keys the official model does not have, ds2ta keys left without a value, or a shape
            that differs (the config does not describe the checkpoint); each named.
    """
    out, unused, unknown, bad = {}, [], [], []
    for k, v in official.items():
        if UNUSED.search(k):
            unused.append(k)
            continue
        t = rename(k)
        if t is None or t not in target:
            unknown.append(k)
            continue
        want = target[t].shape
        if v.shape != want and v.dim() == 4 and v.shape[2:] == (1, 1) and v.shape[:2] == want:
            v = v[:, :, 0, 0]  # a 1 x 1 conv is a Linear over channels
        if v.shape != want:
            bad.append(f"{k} {tuple(v.shape)} (the config's model has {tuple(want)})")
            continue
        out[t] = v.to(target[t].dtype)
    missing = [t for t in target if t not in out]
    if bad:
        raise StattenImportError(f"{source} does not match the --config: {len(bad)} shape(s) differ, e.g. "
                           f"{'; '.join(bad[:3])}. Give the yml the checkpoint was trained with")
    if unknown:
        raise StattenImportError(f"{source} is not an official STAtten sdt model: {len(unknown)} key(s) it should not "
                           f"have, e.g. {unknown[:4]}")
    if missing:
        raise StattenImportError(f"{source} lacks {len(missing)} weight(s) the --config's model needs, e.g. "
                           f"{missing[:4]} (a checkpoint of a smaller model, or another yml)")
    return out, unused


def import_official(checkpoint: str | Path, config: str | Path, attention_mode: str = "STAtten"):
    """``(model, dataset_info, provenance)`` of an official checkpoint: the ds2ta model (eval mode) with the
    official weights, the input it takes and a record of where it came from."""
    from ds2ta.model import DS2TA

    a = read_official_config(config)
    cfg = config_from_official(a, attention_mode)
    sd, info = read_official_checkpoint(checkpoint)
    model = DS2TA(cfg).eval()
    mapped, unused = map_state_dict(sd, model.state_dict(), str(checkpoint))
    model.load_state_dict(mapped, strict=True)
    dvs = cfg.encoding == "events"
    dataset = {"name": str(a["dataset"]).split("/")[-1], "input_scale": 1.0 if dvs else 1.0 / 255,
               "encoding": cfg.encoding, "in_channels": cfg.in_channels, "img_size": cfg.img_size,
               "num_classes": cfg.num_classes}
    provenance = {"source": str(Path(checkpoint).resolve()), "config": str(Path(config).resolve()),
                  "from": "statten", "attention_mode": attention_mode, "keys_imported": len(mapped),
                  "keys_unused": unused, "official": info,
                  "config_values": {k: a[k] for k in sorted(a) if isinstance(a[k], (int, float, str, bool, list))}}
    return model, dataset, provenance
