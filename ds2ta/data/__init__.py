"""Dataset registry: ``get_dataset(name, data_dir, T) -> (train_ds, test_ds, info)``.

Samples are batch-first float tensors equal to ``x_int * info["input_scale"]``: direct images
``(C, H, W)`` or event frames ``(T, C, H, W)``; labels are ints. ``info`` is the ``"dataset"`` entry
of a checkpoint (name, input_scale, encoding, num_classes, in_channels, img_size, ...).

================  ========================  =============  ===========  ===================
name              source                    sample         input_scale  preset
================  ========================  =============  ===========  ===================
digits            scikit-learn (bundled)    (1, 8, 8)      1/16         tiny
digits-events     generated from digits     (T,2,16,16)    1            tiny-dvs
digits-events128  digits, made per item     (T,2,128,128)  1            dvs (10 classes)
digits32          digits as 32x32 RGB       (3, 32, 32)    1/255        cifar10 (GPU smoke)
cifar10           --data-dir, torchvision   (3, 32, 32)    1/255        cifar10
cifar100          --data-dir, torchvision   (3, 32, 32)    1/255        cifar100
dvs-gesture       --data-dir, spikingjelly  (T,2,128,128)  1            dvs
cifar10-dvs       --data-dir, spikingjelly  (T,2,128,128)  1            dvs (10 classes)
================  ========================  =============  ===========  ===================
"""

from __future__ import annotations

import os

DATASETS = ("digits", "digits-events", "digits-events128", "digits32", "cifar10", "cifar100",
            "dvs-gesture", "cifar10-dvs")
ALIASES = {"dvsgesture": "dvs-gesture", "dvs128-gesture": "dvs-gesture", "cifar10dvs": "cifar10-dvs"}


def get_dataset(name: str, data_dir: str | os.PathLike | None = None, T: int | None = None,
                augment: bool = True, seed: int = 0, verify_md5: bool = True):
    """Build a dataset by name.

    Args:
        name: one of :data:`DATASETS`.
        data_dir: folder with the files for CIFAR and DVS data (never downloaded).
        T: time steps for event datasets (default 10); ignored by static images.
        augment: training augmentation (CIFAR only).
        seed: event-generation seed for ``digits-events`` and ``digits-events128``.
        verify_md5: check CIFAR md5 sums.

    Returns:
        ``(train_ds, test_ds, info)``.

    Raises:
        ValueError: unknown name, or missing data (the message says what to put where).
    """
    key = ALIASES.get(name.lower(), name.lower()) if isinstance(name, str) else name
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: choose one of {list(DATASETS)}")
    if T is not None and (not isinstance(T, int) or T < 1):
        raise ValueError(f"T={T!r} must be a positive integer")
    if key == "digits":
        from ds2ta.data.digits import load_digits_static
        return load_digits_static()
    if key == "digits-events":
        from ds2ta.data.digits import load_digits_events
        return load_digits_events(T=T or 10, seed=seed)
    if key == "digits-events128":
        from ds2ta.data.digit_events128 import load_digits_events128
        return load_digits_events128(T=T or 10, seed=seed)
    if key == "digits32":
        from ds2ta.data.digits import load_digits32
        return load_digits32()
    if key in ("cifar10", "cifar100"):
        from ds2ta.data.cifar import load_cifar
        return load_cifar(key, data_dir, augment=augment, verify_md5=verify_md5)
    from ds2ta.data.dvs import load_dvs
    return load_dvs(key, data_dir, T=T or 10)


def to_int(x, info: dict):
    """Recover the integer input ``x_int = round(x / input_scale)`` that the chip receives."""
    return (x / info["input_scale"]).round()


__all__ = ["DATASETS", "get_dataset", "to_int"]
