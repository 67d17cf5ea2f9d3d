"""Offline datasets built from scikit-learn's bundled 8x8 digits.

* ``digits``: static images, integer pixels 0..16, ``x_float = x_int / 16``, shape ``(1, 8, 8)``.
* ``digits-events``: each digit (upsampled to 12x12) makes a random walk of one-pixel saccades on a
  16x16 canvas; ON/OFF events are the frame differences quantised by a contrast threshold, giving
  small-integer event frames ``(T, 2, 16, 16)`` that exercise the DVS path (preset ``tiny-dvs``).

Both use one fixed stratified 80/20 split (seed 0) so every run and every part of the project sees
the same test set; the event generation is deterministic given ``seed``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import TensorDataset

SPLIT_SEED = 0
TEST_FRACTION = 0.2
MOVES = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)])


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fixed split of scikit-learn's digits: ``(x_train, y_train, x_test, y_test)``.

    Images are ``uint8`` arrays ``(n, 8, 8)`` with values 0..16; labels ``int64``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = d.images.astype(np.uint8)  # (1797, 8, 8), 0..16
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=TEST_FRACTION, stratify=y,
                                          random_state=SPLIT_SEED)
    return xtr, ytr, xte, yte


def load_digits_static() -> tuple[TensorDataset, TensorDataset, dict]:
    """``digits``: float images ``(1, 8, 8)`` equal to ``x_int / 16``."""
    xtr, ytr, xte, yte = digits_split()
    scale = 1.0 / 16.0

    def ds(x, y):
        return TensorDataset(torch.from_numpy(x).float().unsqueeze(1) * scale, torch.from_numpy(y))

    info = dict(name="digits", input_scale=scale, encoding="direct", num_classes=10, in_channels=1,
                img_size=8, x_int_range=[0, 16], train_size=len(ytr), test_size=len(yte),
                split=f"sklearn stratified {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%}, seed {SPLIT_SEED}",
                preset="tiny")
    return ds(xtr, ytr), ds(xte, yte), info


def random_walks(n: int, T: int, max_offset: int, rng: np.random.Generator, step: int = 1) -> np.ndarray:
    """Saccade paths: ``(n, T + 1, 2)`` integer (row, col) offsets in ``[0, max_offset]``.

    Each step moves ``step`` pixels towards one of the 8 neighbours; a move that would leave the
    canvas is reflected, so every step changes the position and produces events.
    """
    if step < 1 or max_offset < 2 * step - 1:
        raise ValueError(f"random walk with {step}-pixel steps needs step >= 1 and max_offset >= "
                         f"{2 * step - 1} (got {max_offset}): use a larger canvas, a smaller digit "
                         "or a smaller step")
    pos = np.empty((n, T + 1, 2), dtype=np.int64)
    pos[:, 0] = rng.integers(0, max_offset + 1, size=(n, 2))
    for t in range(T):
        move = step * MOVES[rng.integers(0, len(MOVES), size=n)]
        nxt = pos[:, t] + move
        out = (nxt < 0) | (nxt > max_offset)
        nxt = np.where(out, pos[:, t] - move, nxt)  # reflect at the border
        pos[:, t + 1] = nxt
    return pos


def render(images: torch.Tensor, paths: np.ndarray, canvas: int) -> torch.Tensor:
    """Place ``images`` ``(n, h, w)`` at ``paths`` ``(n, T+1, 2)``: frames ``(n, T+1, canvas, canvas)``."""
    n, h, w = images.shape
    frames = torch.zeros(n, paths.shape[1], canvas, canvas, dtype=images.dtype)
    for t in range(paths.shape[1]):
        for i in range(n):
            r, c = paths[i, t]
            frames[i, t, r:r + h, c:c + w] = images[i]
    return frames


def events_from_frames(frames: torch.Tensor, contrast: float) -> torch.Tensor:
    """ON/OFF event counts from intensity frames.

    Args:
        frames: ``(n, T + 1, H, W)`` intensities.
        contrast: intensity change that emits one event (a DVS contrast threshold).

    Returns:
        ``(n, T, 2, H, W)`` uint8 counts: channel 0 ON = ``floor(max(d, 0) / contrast)``, channel 1
        OFF = ``floor(max(-d, 0) / contrast)`` with ``d = frames[:, t+1] - frames[:, t]``.
    """
    d = frames[:, 1:] - frames[:, :-1]  # (n, T, H, W)
    on = torch.floor(d.clamp(min=0) / contrast + 1e-6)
    off = torch.floor((-d).clamp(min=0) / contrast + 1e-6)
    return torch.stack([on, off], dim=2).to(torch.uint8)  # (n, T, 2, H, W)


def upsample_digits(x_int: np.ndarray, size: int) -> torch.Tensor:
    """Digits ``(n, 8, 8)`` in 0..16 -> intensities ``(n, size, size)`` in 0..1 on the 1/16 grid (bilinear)."""
    img = torch.from_numpy(x_int).float().unsqueeze(1) / 16.0  # (n, 1, 8, 8) in 0..1
    img = F.interpolate(img, size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    return torch.round(img * 16) / 16  # keep intensities on the digits' 1/16 grid


def make_digit_events(x_int: np.ndarray, T: int, seed: int, canvas: int = 16, size: int = 12,
                      contrast: float = 0.25) -> torch.Tensor:
    """Event frames ``(n, T, 2, canvas, canvas)`` (uint8) for digits ``x_int`` ``(n, 8, 8)`` in 0..16."""
    if size > canvas:
        raise ValueError(f"digit size {size} does not fit the {canvas}x{canvas} canvas")
    img = upsample_digits(x_int, size)
    paths = random_walks(len(img), T, canvas - size, np.random.default_rng(seed))
    return events_from_frames(render(img, paths, canvas), contrast)


def load_digits_events(T: int = 10, seed: int = 0) -> tuple[TensorDataset, TensorDataset, dict]:
    """``digits-events``: float event frames ``(T, 2, 16, 16)`` (counts, ``input_scale`` 1)."""
    if T < 1:
        raise ValueError(f"T={T} must be >= 1 for digits-events")
    xtr, ytr, xte, yte = digits_split()
    etr = make_digit_events(xtr, T, seed)
    ete = make_digit_events(xte, T, seed + 1)
    info = dict(name="digits-events", input_scale=1.0, encoding="events", num_classes=10,
                in_channels=2, img_size=16, T=T, seed=seed, x_int_range=[0, int(max(etr.max(), ete.max()))],
                train_size=len(ytr), test_size=len(yte), preset="tiny-dvs",
                generator="12x12 digit, one-pixel saccades on 16x16, contrast 0.25")
    return (TensorDataset(etr.float(), torch.from_numpy(ytr)),
            TensorDataset(ete.float(), torch.from_numpy(yte)), info)


def load_digits32() -> tuple[TensorDataset, TensorDataset, dict]:
    """``digits32``: the digits as CIFAR-shaped 8-bit RGB images ``(3, 32, 32)``, ``x_int / 255``.

    Each 8x8 digit is upsampled bilinearly to 32x32, mapped to 0..255 (rounded) and repeated over 3
    channels, so the ``cifar10`` preset and the CIFAR input path can be exercised (and timed on a
    GPU) without the CIFAR files. Same fixed split as ``digits``.
    """
    xtr, ytr, xte, yte = digits_split()
    scale = 1.0 / 255.0

    def ds(x, y):
        img = torch.from_numpy(x).float().unsqueeze(1) / 16.0  # (n, 1, 8, 8) in 0..1
        img = F.interpolate(img, size=(32, 32), mode="bilinear", align_corners=False)
        x_int = torch.round(img.clamp(0, 1) * 255).expand(-1, 3, -1, -1)  # (n, 3, 32, 32)
        return TensorDataset(x_int * scale, torch.from_numpy(y))

    info = dict(name="digits32", input_scale=scale, encoding="direct", num_classes=10, in_channels=3,
                img_size=32, x_int_range=[0, 255], train_size=len(ytr), test_size=len(yte),
                preset="cifar10", split=f"as digits (seed {SPLIT_SEED})")
    return ds(xtr, ytr), ds(xte, yte), info
