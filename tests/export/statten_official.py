"""STAtten's official model code (github Intelligent-Computing-Lab-Yale/STAtten, MIT) as the oracle.

The code is not copied into the project: it is read from ``../shared/reference/statten-official-code``
next to the repository (or the folder in ``$DS2TA_STATTEN_CODE``); tests skip, naming the folder, when it
is absent. Two things are patched so it runs on a CPU without its training stack: spikingjelly's
``backend="cupy"`` LIF runs with the torch backend (same equations), and timm's five names it imports
(``trunc_normal_``, ``DropPath``, ``to_2tuple``, ``register_model``, ``_cfg``) are stubbed unless timm is
installed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import types
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
CODE = Path(os.environ.get("DS2TA_STATTEN_CODE", REPO.parent / "shared" / "reference" / "statten-official-code"))


def code_dir() -> Path:
    if not (CODE / "model" / "spikeformer.py").is_file():
        pytest.skip(f"STAtten's official code is not at {CODE} (set DS2TA_STATTEN_CODE to its folder)")
    return CODE


def _stub_timm() -> None:
    try:
        import timm  # noqa: F401
        return
    except ImportError:
        pass

    def trunc_normal_(t, mean=0.0, std=1.0, a=-2.0, b=2.0):
        return torch.nn.init.trunc_normal_(t, mean, std, a, b)

    class DropPath(torch.nn.Identity):  # built by the official block, never called
        def __init__(self, *a, **k):
            super().__init__()

    mods = {n: types.ModuleType(n) for n in ("timm", "timm.models", "timm.models.layers",
                                              "timm.models.registry", "timm.models.vision_transformer")}
    mods["timm.models.layers"].trunc_normal_ = trunc_normal_
    mods["timm.models.layers"].DropPath = DropPath
    mods["timm.models.layers"].to_2tuple = lambda x: x if isinstance(x, tuple) else (x, x)
    mods["timm.models.registry"].register_model = lambda f: f
    mods["timm.models.vision_transformer"]._cfg = lambda **k: dict(k)
    sys.modules.update(mods)


def _torch_backend_lif() -> None:
    from spikingjelly.clock_driven import neuron

    if getattr(neuron.MultiStepLIFNode, "_ds2ta_torch_backend", False):
        return

    class TorchLIF(neuron.MultiStepLIFNode):
        _ds2ta_torch_backend = True

        def __init__(self, *a, backend="torch", **k):
            super().__init__(*a, backend="torch", **k)

    neuron.MultiStepLIFNode = TorchLIF


def official_sdt():
    """The official ``sdt`` model factory (``model.spikeformer.sdt``)."""
    root = code_dir()
    _stub_timm()
    _torch_backend_lif()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module("model.spikeformer").sdt


def official_model(yml: Path, attention_mode: str = "STAtten", seed: int = 0):
    """The model ``train.py`` builds for ``yml`` (its argument defaults under the yml's values), in eval
    mode, with random weights and BatchNorm statistics that are not the identity."""
    import yaml

    code_dir()  # skip, naming the folder, before reading a yml from it
    a = {"pooling_stat": "1111", "spike_mode": "lif", "layer": 4, "in_channels": 3, "num_classes": 1000,
         "time_steps": 4, "chunk_size": 2, "num_heads": 8, "mlp_ratio": 4, "img_size": None, "patch_size": None,
         "TET": False, **yaml.safe_load(Path(yml).read_text())}
    kw = dict(T=a["time_steps"], chunk_size=a["chunk_size"], num_heads=a["num_heads"],
              num_classes=a["num_classes"], pooling_stat=a["pooling_stat"], img_size_h=a["img_size"],
              img_size_w=a["img_size"], patch_size=a["patch_size"], embed_dims=a["dim"],
              mlp_ratios=a["mlp_ratio"], in_channels=a["in_channels"], qkv_bias=False, depths=a["layer"],
              sr_ratios=1, spike_mode=a["spike_mode"], dvs_mode=a["dataset"] in ("cifar10-dvs", "ncaltech101"),
              TET=a["TET"], attention_mode=attention_mode)
    torch.manual_seed(seed)  # timm's create_model drops arguments that are None (the model's defaults hold)
    m = official_sdt()(**{k: v for k, v in kw.items() if v is not None})
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                mod.running_mean.copy_(torch.rand(mod.running_mean.shape, generator=g) * 0.4 - 0.2)
                mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=g) + 0.5)
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=g) + 0.5)
                mod.bias.copy_(torch.rand(mod.bias.shape, generator=g) * 0.4)
            elif isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):  # trunc_normal 0.02 barely fires
                mod.weight.normal_(0.0, 2.0 / mod.weight[0].numel() ** 0.5, generator=g)
                if mod.bias is not None:
                    mod.bias.normal_(0.0, 0.1, generator=g)
    return m.eval(), a


def save_as_train_py(model, args: dict, path: Path, ddp: bool = False) -> Path:
    """What ``train.py``'s timm ``CheckpointSaver`` writes: a dict with ``state_dict`` (keys prefixed
    ``module.`` when the model was saved inside DistributedDataParallel), the optimizer state, the
    argparse ``args`` namespace, ``epoch``, ``arch``, ``version`` and ``metric``."""
    sd = {("module." + k if ddp else k): v for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    torch.save({"epoch": 199, "arch": "sdt", "state_dict": sd, "optimizer": opt.state_dict(),
                "args": argparse.Namespace(**args), "version": 2, "metric": 95.1}, path)
    return path


def official_logits(model, x: torch.Tensor) -> torch.Tensor:
    """Logits of the official model (its ``forward`` returns ``(x, hook)``); resets the LIF states."""
    from spikingjelly.clock_driven import functional
    functional.reset_net(model)
    with torch.no_grad():
        out, _ = model(x)
    functional.reset_net(model)
    return out.mean(0) if out.dim() == 3 else out


if __name__ == "__main__":  # a checkpoint to try `ds2ta-export --from statten` without a trained one
    import json

    p = argparse.ArgumentParser(description="Build STAtten's official model for YML (random weights, BN "
                                            "statistics not the identity) and save it as its train.py does.")
    p.add_argument("yml")
    p.add_argument("out", help="checkpoint file to write (e.g. model_best.pth.tar)")
    p.add_argument("--attention-mode", default="STAtten", choices=("STAtten", "SDT"))
    p.add_argument("--data", default=None, help="also write a folder with x_int.npy and labels.npy (8 samples)")
    a = p.parse_args()
    model, args = official_model(Path(a.yml), a.attention_mode)
    save_as_train_py(model, args, Path(a.out), ddp=True)
    if a.data:
        import numpy as np
        rng, d = np.random.default_rng(0), Path(a.data)
        d.mkdir(parents=True, exist_ok=True)
        dvs = args["dataset"] in ("cifar10-dvs", "ncaltech101")
        s = args["img_size"] or 128
        shape = (8, args["time_steps"], args["in_channels"], s, s) if dvs else (8, args["in_channels"], s, s)
        x = (rng.random(shape) < 0.1) * rng.integers(1, 4, shape) if dvs else rng.integers(0, 256, shape)
        np.save(d / "x_int.npy", x.astype(np.int32))
        np.save(d / "labels.npy", rng.integers(0, int(args["num_classes"]), 8))
    print(json.dumps({"checkpoint": a.out, "keys": len(model.state_dict()), "data": a.data}))
