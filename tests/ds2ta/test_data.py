"""Datasets: digits split, digits-events generator, CIFAR and DVS loaders on tiny fake files."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from ds2ta.data import get_dataset, to_int
from ds2ta.data.digits import events_from_frames, make_digit_events, random_walks
from ds2ta.data.dvs import split_per_class


def test_digits_split_and_scale():
    from sklearn.datasets import load_digits

    train, test, info = get_dataset("digits")
    assert (len(train), len(test)) == (1437, 360)  # 1797 samples, 20 % held out
    assert info["input_scale"] == 1 / 16 and info["encoding"] == "direct"
    x, y = train[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32
    xs = torch.stack([test[i][0] for i in range(len(test))])
    xi = to_int(xs, info)
    assert torch.equal(xi, xs * 16) and xi.min() >= 0 and xi.max() <= 16
    # every test image is one of the original digits, with its original label
    d = load_digits()
    orig = {(tuple(img.astype(int).ravel()), int(t)) for img, t in zip(d.images, d.target)}
    ys = [int(test[i][1]) for i in range(len(test))]
    assert all((tuple(xi[i, 0].int().ravel().tolist()), ys[i]) in orig for i in range(len(test)))
    # stratified: each class has 20 % (+-1) of its samples in the test set
    counts = np.bincount(d.target, minlength=10)
    assert np.all(np.abs(np.bincount(ys, minlength=10) - counts * 0.2) <= 1)
    # fixed split: building again gives the same test set
    _, test2, _ = get_dataset("digits")
    assert torch.equal(test2.tensors[0], test.tensors[0])


def test_events_from_frames_hand_worked():
    # one pixel of intensity 1 moves one column right; contrast 0.25 -> 4 ON at new, 4 OFF at old
    f = torch.zeros(1, 2, 3, 3)
    f[0, 0, 1, 0] = 1.0
    f[0, 1, 1, 1] = 1.0
    ev = events_from_frames(f, 0.25)
    assert ev.shape == (1, 1, 2, 3, 3) and ev.dtype == torch.uint8
    on, off = ev[0, 0, 0], ev[0, 0, 1]
    assert on[1, 1] == 4 and off[1, 0] == 4
    assert on.sum() == 4 and off.sum() == 4
    # 0.6 change with contrast 0.25 -> floor(2.4) = 2 events
    f2 = torch.tensor([[[[0.0]], [[0.6]], [[0.1]]]])
    ev2 = events_from_frames(f2, 0.25)
    assert ev2[0, :, :, 0, 0].tolist() == [[2, 0], [0, 2]]


def test_random_walks_move_every_step_and_stay_inside():
    p = random_walks(200, 10, 4, np.random.default_rng(3))
    assert p.shape == (200, 11, 2) and p.min() >= 0 and p.max() <= 4
    step = np.abs(np.diff(p, axis=1))
    assert step.max() == 1 and np.all(step.sum(-1) >= 1)


def test_digits_events_shape_determinism_and_content():
    x = (np.random.default_rng(0).integers(0, 17, size=(5, 8, 8))).astype(np.uint8)
    a = make_digit_events(x, T=10, seed=7)
    b = make_digit_events(x, T=10, seed=7)
    c = make_digit_events(x, T=10, seed=8)
    assert a.shape == (5, 10, 2, 16, 16) and torch.equal(a, b) and not torch.equal(a, c)
    assert a.max() <= 4  # intensity <= 1, contrast 0.25
    assert (a.flatten(2).sum(-1) > 0).all()  # every frame of every sample has events


def test_digits_events_registry_matches_tiny_dvs():
    from ds2ta import DS2TA, make_config

    train, test, info = get_dataset("digits-events", T=4)
    x, _ = train[0]
    assert x.shape == (4, 2, 16, 16) and info["encoding"] == "events"
    cfg = make_config("tiny-dvs", T=4, chunk=2, embed_dim=16, heads=2)
    assert (cfg.img_size, cfg.in_channels) == (info["img_size"], info["in_channels"])
    out = DS2TA(cfg).eval()(torch.stack([train[i][0] for i in range(2)]))
    assert out.shape == (2, 10)


def test_unknown_dataset_and_bad_T():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        get_dataset("mnist")
    with pytest.raises(ValueError, match="positive integer"):
        get_dataset("digits-events", T=0)


def _write_fake_cifar10(root, n_train=4, n_test=3):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        data = rng.integers(0, 256, size=(n_train, 3072), dtype=np.uint8)
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump({"data": data, "labels": [(i + j) % 10 for j in range(n_train)]}, f)
    test = rng.integers(0, 256, size=(n_test, 3072), dtype=np.uint8)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"data": test, "labels": list(range(n_test))}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)
    return test


def test_cifar10_loader_on_fake_files(tmp_path):
    raw = _write_fake_cifar10(tmp_path)
    train, test, info = get_dataset("cifar10", tmp_path, verify_md5=False)
    assert (len(train), len(test)) == (20, 3) and info["num_classes"] == 10
    assert info["input_scale"] == pytest.approx(1 / 255)
    x, y = test[1]
    assert x.shape == (3, 32, 32) and y == 1
    # CIFAR rows are channel-major 32x32 planes; the test split is not augmented
    expect = torch.from_numpy(raw[1].reshape(3, 32, 32).astype(np.float32))
    assert torch.equal(to_int(x, info), expect)
    xa, _ = train[0]  # augmented: same shape, still on the 1/255 grid
    assert xa.shape == (3, 32, 32)
    torch.testing.assert_close(to_int(xa, info) / 255, xa, rtol=0, atol=1e-7)


def test_cifar_md5_checked_by_default(tmp_path):
    _write_fake_cifar10(tmp_path)
    with pytest.raises(ValueError, match="md5 mismatch.*nothing is downloaded"):
        get_dataset("cifar10", tmp_path)


def test_cifar_missing_dir_says_what_to_put_where(tmp_path):
    with pytest.raises(ValueError, match="needs --data-dir"):
        get_dataset("cifar10", None)
    with pytest.raises(ValueError, match=r"cifar-100-python lacks \['train', 'test', 'meta'\].*"
                                         r"cifar-100-python.tar.gz"):
        get_dataset("cifar100", tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing created, nothing downloaded


def _write_frames(folder, T, n, label_offset=0):
    folder.mkdir(parents=True)
    for i in range(n):
        fr = np.full((T, 2, 4, 4), i + label_offset, dtype=np.float32)
        np.savez(folder / f"s{i}.npz", frames=fr)


def test_dvs_gesture_frames_layout(tmp_path):
    fdir = tmp_path / "frames_number_3_split_by_number"
    for c in range(11):
        _write_frames(fdir / "train" / str(c), 3, 2)
        _write_frames(fdir / "test" / str(c), 3, 1, label_offset=5)
    train, test, info = get_dataset("dvs-gesture", tmp_path, T=3)
    assert (len(train), len(test)) == (22, 11)
    x, y = test[0]
    assert x.shape == (3, 2, 4, 4) and float(x[0, 0, 0, 0]) == 5.0
    assert info["encoding"] == "events" and info["num_classes"] == 11 and info["img_size"] == 4


def test_cifar10_dvs_split_and_missing_sources(tmp_path):
    fdir = tmp_path / "frames_number_2_split_by_number"
    for c in ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]:
        _write_frames(fdir / c, 2, 10)
    train, test, info = get_dataset("cifar10-dvs", tmp_path, T=2)
    assert (len(train), len(test)) == (90, 10)  # 9 + 1 per class
    with pytest.raises(ValueError, match=r"neither frames_number_5_split_by_number.*airplane.zip"):
        get_dataset("cifar10-dvs", tmp_path, T=5)
    (tmp_path / "download").mkdir()
    (tmp_path / "download" / "airplane.zip").write_bytes(b"corrupt")
    with pytest.raises(ValueError, match="missing or corrupt.*airplane.zip"):
        get_dataset("cifar10-dvs", tmp_path, T=5)
    assert (tmp_path / "download" / "airplane.zip").read_bytes() == b"corrupt"  # untouched


def test_split_per_class_matches_spikingjelly():
    from spikingjelly.datasets import split_to_train_test_set

    labels = np.array([0, 1, 0, 2, 1, 0, 2, 2, 1, 0, 0])
    ds = [(None, int(v)) for v in labels]
    tr, te = split_to_train_test_set(0.7, ds, 3)
    mine_tr, mine_te = split_per_class(labels, 0.7)
    assert sorted(tr.indices) == sorted(mine_tr) and sorted(te.indices) == sorted(mine_te)


def test_digits32_is_cifar_shaped_digits():
    train, test, info = get_dataset("digits32")
    _, test8, info8 = get_dataset("digits")
    assert len(test) == len(test8) and info["img_size"] == 32 and info["in_channels"] == 3
    x, y = test[4]
    assert x.shape == (3, 32, 32) and int(y) == int(test8[4][1])
    xi = to_int(x, info)
    torch.testing.assert_close(xi * info["input_scale"], x, rtol=0, atol=1e-7)  # on the 1/255 grid
    assert xi.min() >= 0 and xi.max() <= 255 and torch.equal(xi[0], xi[2])
    # block means of the upsampled image follow the 8x8 original (bilinear, 4x)
    orig = to_int(test8[4][0], info8)[0] / 16 * 255  # (8, 8) on the 0..255 scale
    pooled = torch.nn.functional.avg_pool2d(xi[:1], 4)[0]
    assert torch.corrcoef(torch.stack([pooled.ravel(), orig.ravel()]))[0, 1] > 0.95


def test_random_walks_with_longer_saccades():
    p = random_walks(300, 10, 88, np.random.default_rng(4), step=3)
    assert p.min() >= 0 and p.max() <= 88
    step = np.abs(np.diff(p, axis=1))  # (n, T, 2): each axis moves 0 or 3, at least one moves
    assert set(np.unique(step)) == {0, 3} and np.all(step.max(-1) == 3)
    with pytest.raises(ValueError, match="max_offset >= 5"):
        random_walks(1, 3, 4, np.random.default_rng(0), step=3)


def _events_oracle(digit: np.ndarray, path: np.ndarray, canvas: int, size: int) -> np.ndarray:
    """Independent rendering: the upsampled digit pasted at each corner, ON/OFF = floor(+-diff / 0.25)."""
    img = torch.nn.functional.interpolate(torch.tensor(digit, dtype=torch.float32)[None, None] / 16,
                                          size=(size, size), mode="bilinear", align_corners=False)
    img = (img[0, 0] * 16).round().numpy() / 16
    frames = np.zeros((len(path), canvas, canvas))
    for t, (r, c) in enumerate(path):
        frames[t, r:r + size, c:c + size] = img
    d = np.diff(frames, axis=0)
    return np.stack([np.floor(np.maximum(d, 0) * 4 + 1e-6), np.floor(np.maximum(-d, 0) * 4 + 1e-6)], 1)


def test_digit_events128_matches_an_independent_rendering():
    from ds2ta.data.digit_events128 import DigitEvents

    x = np.random.default_rng(0).integers(0, 17, size=(3, 8, 8)).astype(np.uint8)
    ds = DigitEvents(x, np.array([4, 5, 6]), T=6, seed=11)
    for i in range(3):
        ev, label = ds[i]
        path = ds.path(i)
        assert ev.shape == (6, 2, 128, 128) and ev.dtype == torch.float32 and label == 4 + i
        assert path.shape == (7, 2) and path.min() >= 0 and path.max() <= 128 - 40
        assert np.all(np.abs(np.diff(path, axis=0)).max(-1) == 3)  # 3-pixel saccades
        np.testing.assert_array_equal(ev.numpy(), _events_oracle(x[i], path, 128, 40))


def test_digit_events128_events_sit_where_the_digit_moves():
    train, _, _ = get_dataset("digits-events128", T=10)
    for i in (0, 1, 2, 500):
        ev, _ = train[i]
        assert torch.equal(ev, ev.round()) and ev.min() >= 0 and ev.max() <= 4
        path = train.path(i)
        for t in range(10):
            active = ev[t].sum(0).nonzero()  # (k, 2) row, col of pixels with events
            assert len(active) > 0  # every step moves the digit, so every frame has events
            # all inside the box swept by the digit from position t to t+1 (40 px digit, 3 px step)
            lo = np.minimum(path[t], path[t + 1])
            hi = np.maximum(path[t], path[t + 1]) + 40
            assert (active.min(0).values >= torch.tensor(lo)).all()
            assert (active.max(0).values < torch.tensor(hi)).all()
            # path-free: the events of one step span at most 40 + 3 pixels per axis
            assert ((active.max(0).values - active.min(0).values) < 43).all()
        # 128 x 128 frame, the digit covers a small part of it: most pixels never see an event
        assert (ev.sum((0, 1)) > 0).float().mean() < 0.25


def test_digit_events128_is_deterministic_per_sample():
    from ds2ta.data.digit_events128 import DigitEvents

    train, test, info = get_dataset("digits-events128", T=4, seed=3)
    again, _, _ = get_dataset("digits-events128", T=4, seed=3)
    other, _, _ = get_dataset("digits-events128", T=4, seed=4)
    a = train[7][0]
    assert torch.equal(again[7][0], a)  # another instance, same seed
    fresh, _, _ = get_dataset("digits-events128", T=4, seed=3)
    fresh[8], fresh[6]  # generated in another order first
    assert torch.equal(fresh[7][0], a)
    assert not torch.equal(other[7][0], a)
    assert not np.array_equal(train.path(0), test.path(0))  # test split uses seed + 1
    # lazy: only the upsampled uint8 digits are held, not the events
    assert train.digits.dtype == torch.uint8 and train.digits.shape == (len(train), 40, 40)
    assert info["x_int_range"] == [0, 4] and info["num_classes"] == 10
    with pytest.raises(ValueError, match="canvas of at least 45"):
        DigitEvents(np.zeros((1, 8, 8), np.uint8), np.zeros(1), T=2, seed=0, canvas=44)
    with pytest.raises(IndexError):
        train[len(train)]


def test_digit_events128_feeds_the_dvs_preset_with_ten_classes():
    from ds2ta.training import build_model

    train, test, info = get_dataset("digits-events128", T=4)
    assert (len(train), len(test)) == (1437, 360)
    assert (info["img_size"], info["in_channels"], info["T"], info["preset"]) == (128, 2, 4, "dvs")
    m = build_model("dvs", info, embed_dim=16, heads=2, depth=1).eval()
    assert (m.cfg.num_classes, m.cfg.img_size, m.cfg.T, m.cfg.encoding) == (10, 128, 4, "events")
    with torch.no_grad():
        assert m(torch.stack([test[i][0] for i in range(2)])).shape == (2, 10)
