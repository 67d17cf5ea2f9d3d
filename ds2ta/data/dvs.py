"""DVS128 Gesture and CIFAR10-DVS from ``--data-dir`` as integrated event frames ``(T, 2, 128, 128)``.

Frames use spikingjelly's on-disk layout (``frames_number_{T}_split_by_number``, one ``.npz`` per
sample with key ``frames`` of shape ``(T, 2, 128, 128)`` = event counts per polarity)::

    DATA_DIR/frames_number_10_split_by_number/train/<0..10>/*.npz     # dvs-gesture
    DATA_DIR/frames_number_10_split_by_number/test/<0..10>/*.npz
    DATA_DIR/frames_number_10_split_by_number/<airplane..truck>/*.npz # cifar10-dvs (split 90/10 here)

When that folder is missing, spikingjelly integrates it (offline) from ``DATA_DIR/events_np/`` or
from the original archives placed by hand in ``DATA_DIR/download/`` (DVS Gesture:
``DvsGesture.tar.gz gesture_mapping.csv LICENSE.txt README.txt``; CIFAR10-DVS: ``airplane.zip ...
truck.zip``). spikingjelly would download CIFAR10-DVS when files are missing or corrupt, so every
file is checked here first (md5) and nothing is ever downloaded.

The model sees the counts directly (``input_scale`` 1).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Subset
from torchvision.datasets import DatasetFolder
from torchvision.datasets.utils import check_integrity

NAMES = {"dvs-gesture": ("spikingjelly.datasets.dvs128_gesture", "DVS128Gesture", 11, True),
         "cifar10-dvs": ("spikingjelly.datasets.cifar10_dvs", "CIFAR10DVS", 10, False)}
CIFAR10DVS_TRAIN_FRACTION = 0.9


def load_npz_frames(path: str) -> torch.Tensor:
    """One sample: ``(T, 2, H, W)`` float event counts from an ``.npz`` with key ``frames``."""
    with np.load(path, allow_pickle=False) as z:
        return torch.from_numpy(z["frames"].astype(np.float32))


def frames_dir(root: Path, T: int) -> Path:
    return root / f"frames_number_{T}_split_by_number"


def _sj_class(name: str):
    import importlib
    mod, cls, _, _ = NAMES[name]
    return getattr(importlib.import_module(mod), cls)


def _check_sources(name: str, root: Path, T: int) -> None:
    """Make sure spikingjelly can integrate frames without downloading; raise ``ValueError`` otherwise."""
    if (root / "events_np").is_dir():
        return
    resources = _sj_class(name).resource_url_md5()
    files = [r[0] for r in resources]
    if not (root / "download").is_dir():
        raise ValueError(
            f"dataset {name!r}: {root} has neither {frames_dir(root, T).name}/ (integrated frames), "
            f"events_np/ nor download/. Put the original files {files} in {root / 'download'} "
            "(nothing is downloaded), or pre-integrated frames in "
            f"{frames_dir(root, T)}/ (see docs/training.md)")
    bad = [f for f, _, md5 in resources if not check_integrity(str(root / "download" / f), md5)]
    if bad:
        raise ValueError(f"dataset {name!r}: missing or corrupt files in {root / 'download'}: {bad} "
                         f"(md5 checked; place the original files there by hand, nothing is downloaded)")


def _labels_of(ds: DatasetFolder) -> np.ndarray:
    return np.asarray(ds.targets, dtype=np.int64)


def split_per_class(labels: np.ndarray, train_fraction: float) -> tuple[list[int], list[int]]:
    """First ``ceil(fraction * n_c)`` samples of each class for training, the rest for testing.

    This is spikingjelly's ``split_to_train_test_set(..., random_split=False)`` computed from the
    labels only (without reading every sample).
    """
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c).tolist()
        k = int(np.ceil(len(idx) * train_fraction))
        train += idx[:k]
        test += idx[k:]
    return train, test


def load_dvs(name: str, data_dir: str | os.PathLike | None, T: int = 10
             ) -> tuple[Dataset, Dataset, dict]:
    """``(train_ds, test_ds, info)`` for ``dvs-gesture`` or ``cifar10-dvs``; samples ``(T, 2, H, W)``."""
    if name not in NAMES:
        raise ValueError(f"unknown DVS dataset {name!r}: choose one of {sorted(NAMES)}")
    if data_dir is None:
        raise ValueError(f"dataset {name!r} needs --data-dir DIR (layout in docs/training.md; "
                         "nothing is downloaded)")
    root = Path(data_dir)
    if not root.is_dir():
        raise ValueError(f"dataset {name!r}: --data-dir {root} does not exist")
    fdir = frames_dir(root, T)
    _, _, num_classes, has_split = NAMES[name]
    if not fdir.is_dir():
        _check_sources(name, root, T)
        cls = _sj_class(name)
        kw = dict(data_type="frame", frames_number=T, split_by="number")
        if has_split:
            cls(str(root), train=True, **kw)  # integrates train and test frames once
        else:
            cls(str(root), **kw)
    if has_split:
        for part in ("train", "test"):
            if not (fdir / part).is_dir():
                raise ValueError(f"dataset {name!r}: {fdir} lacks the {part}/ folder "
                                 "(expected train/<class>/*.npz and test/<class>/*.npz)")
        train = DatasetFolder(str(fdir / "train"), loader=load_npz_frames, extensions=(".npz",))
        test = DatasetFolder(str(fdir / "test"), loader=load_npz_frames, extensions=(".npz",))
        classes = train.classes
    else:
        full = DatasetFolder(str(fdir), loader=load_npz_frames, extensions=(".npz",))
        tr, te = split_per_class(_labels_of(full), CIFAR10DVS_TRAIN_FRACTION)
        train, test, classes = Subset(full, tr), Subset(full, te), full.classes
    if len(classes) != num_classes:
        raise ValueError(f"dataset {name!r}: found {len(classes)} class folders in {fdir}, "
                         f"expected {num_classes}")
    x0, _ = train[0]
    if x0.dim() != 4 or x0.shape[0] != T or x0.shape[1] != 2:
        raise ValueError(f"dataset {name!r}: frames have shape {tuple(x0.shape)}, expected "
                         f"(T={T}, 2, H, W)")
    info = dict(name=name, input_scale=1.0, encoding="events", num_classes=num_classes,
                in_channels=2, img_size=int(x0.shape[-1]), T=T, train_size=len(train),
                test_size=len(test), classes=list(classes), preset="dvs",
                frames=f"spikingjelly frames_number={T}, split_by=number")
    return train, test, info
