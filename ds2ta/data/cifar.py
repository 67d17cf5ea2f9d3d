"""CIFAR-10 / CIFAR-100 from ``--data-dir`` through torchvision, never downloading.

Expected layout (the standard "python version" archives, extracted)::

    DATA_DIR/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
    DATA_DIR/cifar-100-python/{train, test, meta}

Pixels are 8-bit integers and the model sees ``x_float = x_int / 255`` (``input_scale`` 1/255, no
mean/std normalisation, so the chip can take the raw pixels as graded input; the first BN absorbs
the scale). Training augmentation follows Spikformer/DS2TA: RandAugment (1 op, magnitude 9), random
crop 32 with 4-pixel padding, horizontal flip; mixup is a training option (``ds2ta.training``).
"""

from __future__ import annotations

import os
from pathlib import Path

from torchvision import datasets, transforms
from torchvision.datasets.utils import check_integrity

LAYOUT = {
    "cifar10": (datasets.CIFAR10, "cifar-10-batches-py",
                ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                 "test_batch", "batches.meta"],
                "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    "cifar100": (datasets.CIFAR100, "cifar-100-python", ["train", "test", "meta"],
                 "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
}


def _offline(cls, verify_md5: bool):
    """A subclass of torchvision's CIFAR class whose integrity check can skip the md5 sums."""

    class Offline(cls):
        def _check_integrity(self) -> bool:
            for name, md5 in self.train_list + self.test_list:
                if not check_integrity(os.path.join(self.root, self.base_folder, name),
                                       md5 if verify_md5 else None):
                    return False
            return True

        def _load_meta(self) -> None:
            if not verify_md5:
                self.meta = {**self.meta, "md5": None}
            super()._load_meta()

    Offline.__name__ = cls.__name__
    return Offline


def cifar_transforms(train: bool, augment: bool = True) -> transforms.Compose:
    """PIL image -> float tensor ``(3, 32, 32)`` = pixels / 255, with the paper augmentation when training."""
    ops = []
    if train and augment:
        ops += [transforms.RandAugment(num_ops=1, magnitude=9),
                transforms.RandomCrop(32, padding=4),
                transforms.RandomHorizontalFlip()]
    return transforms.Compose(ops + [transforms.ToTensor()])


def check_cifar_dir(name: str, data_dir: str | os.PathLike | None) -> Path:
    """Raise ``ValueError`` saying exactly what to put where when the CIFAR files are missing."""
    _, folder, files, url = LAYOUT[name]
    if data_dir is None:
        raise ValueError(f"dataset {name!r} needs --data-dir DIR holding {folder}/ (extract {url} into "
                         "DIR; nothing is downloaded)")
    root = Path(data_dir)
    missing = [f for f in files if not (root / folder / f).is_file()]
    if missing:
        raise ValueError(f"dataset {name!r}: {root / folder} lacks {missing}. Extract {url} into "
                         f"{root} so that {root / folder}/{files[0]} exists (nothing is downloaded)")
    return root


def load_cifar(name: str, data_dir: str | os.PathLike | None, augment: bool = True,
               verify_md5: bool = True):
    """``(train_ds, test_ds, info)`` for ``cifar10`` or ``cifar100``.

    Args:
        name: ``"cifar10"`` or ``"cifar100"``.
        data_dir: folder holding the extracted archive (see the module docstring).
        augment: apply the training augmentation to the training split.
        verify_md5: check torchvision's md5 sums (tests with fake files turn it off).

    Raises:
        ValueError: missing folder or files, or files whose md5 sums do not match.
    """
    root = check_cifar_dir(name, data_dir)
    cls = _offline(LAYOUT[name][0], verify_md5)
    try:
        train = cls(str(root), train=True, transform=cifar_transforms(True, augment), download=False)
        test = cls(str(root), train=False, transform=cifar_transforms(False), download=False)
    except RuntimeError as e:  # torchvision's "not found or corrupted"
        raise ValueError(f"dataset {name!r} in {root}: {e} (md5 mismatch: re-extract "
                         f"{LAYOUT[name][3]}; nothing is downloaded)") from e
    info = dict(name=name, input_scale=1.0 / 255.0, encoding="direct", num_classes=len(train.classes),
                in_channels=3, img_size=32, x_int_range=[0, 255], train_size=len(train),
                test_size=len(test), classes=list(train.classes), preset=name,
                augmentation="RandAugment(1, 9) + RandomCrop(32, 4) + HorizontalFlip" if augment else "none")
    return train, test, info
