"""``digits-events128``: scikit-learn digits moving across a 128x128 frame as ON/OFF events.

The event path at DVS resolution (preset ``dvs``: 128x128, 2 polarities, T=10) without DVS files.
Each 8x8 digit is upsampled bilinearly to ``size`` x ``size`` pixels (40 by default), rounded to the
digits' 1/16 intensity grid, and makes a random walk of ``step``-pixel saccades (8-neighbour moves,
reflected at the border; 3 pixels by default) on a 128x128 canvas for T+1 frames. ON/OFF counts are
``floor(max(+-(I[t+1] - I[t]), 0) / contrast)`` (:func:`ds2ta.data.digits.events_from_frames`), so
with intensities in 0..1 and contrast 0.25 a pixel emits 0..4 events per step and polarity.

Samples are generated when indexed, from the per-sample seed ``(seed, index)``: holding all 1797
digits would take 1797 x T x 2 x 128 x 128 bytes (590 MB at T=10, uint8); only the upsampled digits
are kept (1797 x 40 x 40 bytes). Same fixed split as ``digits``; the training split uses ``seed``,
the test split ``seed + 1``. A sample is the same whatever else was generated before it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ds2ta.data.digits import digits_split, events_from_frames, random_walks, render, upsample_digits

CANVAS = 128
SIZE = 40
STEP = 3
CONTRAST = 0.25


class DigitEvents(Dataset):
    """Moving-digit event frames ``(T, 2, canvas, canvas)`` (float counts) and labels, made per item.

    Args:
        x_int: digits ``(n, 8, 8)``, integers 0..16.
        labels: ``(n,)`` class of each digit.
        T: time steps (frames of events; the walk has T + 1 positions).
        seed: generation seed; sample ``i`` uses ``numpy.random.default_rng((seed, i))``.
        canvas: frame side in pixels.
        size: side of the upsampled digit in pixels.
        step: saccade length in pixels (per axis).
        contrast: intensity change per event.
    """

    def __init__(self, x_int: np.ndarray, labels: np.ndarray, T: int, seed: int,
                 canvas: int = CANVAS, size: int = SIZE, step: int = STEP, contrast: float = CONTRAST):
        if x_int.ndim != 3 or x_int.shape[1:] != (8, 8) or len(x_int) != len(labels):
            raise ValueError(f"digits must be (n, 8, 8) with n labels, got {x_int.shape} and "
                             f"{len(labels)} labels")
        if T < 1:
            raise ValueError(f"T={T} must be >= 1")
        if not 0 < size <= canvas:
            raise ValueError(f"digit size {size} must be in 1..{canvas} (the {canvas}x{canvas} canvas)")
        if contrast <= 0:
            raise ValueError(f"contrast={contrast} must be positive")
        if canvas - size < 2 * step - 1:
            raise ValueError(f"{step}-pixel saccades of a {size}-pixel digit need a canvas of at least "
                             f"{size + 2 * step - 1} pixels (got {canvas}): reduce size or step")
        self.T, self.seed, self.canvas, self.size, self.step = T, seed, canvas, size, step
        self.contrast = contrast
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.digits = torch.round(upsample_digits(x_int, size) * 16).to(torch.uint8)  # (n, size, size)

    def __len__(self) -> int:
        return len(self.labels)

    def path(self, index: int) -> np.ndarray:
        """Top-left corner of the digit in each of the T + 1 frames: ``(T + 1, 2)`` (row, col)."""
        rng = np.random.default_rng((self.seed, index))
        return random_walks(1, self.T, self.canvas - self.size, rng, self.step)[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        index %= len(self)
        img = self.digits[index:index + 1].float() / 16  # (1, size, size) in 0..1
        frames = render(img, self.path(index)[None], self.canvas)  # (1, T + 1, canvas, canvas)
        events = events_from_frames(frames, self.contrast)[0]  # (T, 2, canvas, canvas) uint8
        return events.float(), int(self.labels[index])


def load_digits_events128(T: int = 10, seed: int = 0) -> tuple[DigitEvents, DigitEvents, dict]:
    """``digits-events128``: event frames ``(T, 2, 128, 128)`` (counts, ``input_scale`` 1)."""
    if T < 1:
        raise ValueError(f"T={T} must be >= 1 for digits-events128")
    xtr, ytr, xte, yte = digits_split()
    train, test = DigitEvents(xtr, ytr, T, seed), DigitEvents(xte, yte, T, seed + 1)
    info = dict(name="digits-events128", input_scale=1.0, encoding="events", num_classes=10,
                in_channels=2, img_size=CANVAS, T=T, seed=seed,
                x_int_range=[0, int(np.floor(1.0 / CONTRAST + 1e-6))],  # intensities 0..1
                train_size=len(train), test_size=len(test), preset="dvs",
                generator=f"{SIZE}x{SIZE} digit, {STEP}-pixel saccades on {CANVAS}x{CANVAS}, "
                          f"contrast {CONTRAST}, generated per sample from (seed, index)")
    return train, test, info
