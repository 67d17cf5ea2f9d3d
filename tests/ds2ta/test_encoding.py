"""Time-major input encoding (ds2ta.encoding) on numpy arrays and torch tensors."""

import numpy as np
import pytest
import torch

from ds2ta.encoding import time_major


def test_direct_repeats_the_frame_every_step():
    x = np.arange(6).reshape(2, 3)  # 2 frames of 3 values
    y = time_major(x, 4, "direct")
    assert y.shape == (4, 2, 3) and all((y[t] == x).all() for t in range(4))
    yt = time_major(torch.from_numpy(x), 4, "direct")
    assert yt.shape == (4, 2, 3) and torch.equal(yt[3], torch.from_numpy(x))


def test_events_put_time_first():
    ev = np.arange(24).reshape(2, 4, 3)  # (B, T, n)
    y = time_major(ev, 4, "events")
    assert y.shape == (4, 2, 3) and y[1, 0].tolist() == ev[0, 1].tolist()
    assert torch.equal(time_major(torch.from_numpy(ev), 4, "events"), torch.from_numpy(y.copy()))


def test_unknown_encoding_is_named():
    with pytest.raises(ValueError, match="'rate'"):
        time_major(np.zeros((1, 2)), 4, "rate")
