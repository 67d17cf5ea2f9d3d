"""The chip's integer convolution (``chip.conv2d``), on numpy arrays and on torch tensors (CPU and CUDA).

A Loihi synapse layer of a ``Conv2d`` sums 8-bit weights times spikes or 24-bit graded payloads; both
executors and the exporter compute that sum here. numpy: ``blas.IntConv2d`` (BLAS, exact by the bound
``row_abs_sum(w) max|x|``). torch: one float ``conv2d`` in the type the same bound proves exact. Re-exported
by ``ds2ta.hardware.chip``, the one home of the chip's arithmetic.
"""

from __future__ import annotations

import sys

import numpy as np

from ds2ta.hardware.blas import IntConv2d, exact_dtype


def _is_torch(x) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


EXACT_FLOAT = 1 << 53  # float64 holds every integer below this exactly


def _pair(v) -> tuple:
    if isinstance(v, str):
        return v
    a = np.atleast_1d(np.asarray(v)).astype(np.int64).reshape(-1)
    return (int(a[0]), int(a[-1]))


def conv2d(x, w, stride=1, padding=0, dilation=1, groups=1, name: str = "conv"):
    """Integer cross-correlation in PyTorch layout: x ``(B, C, H, W)``, w ``(O, C/g, kh, kw)`` ->
    ``(B, O, Ho, Wo)`` int64, ``y[b,o,i,j] = sum_{c,p,q} w[o,c,p,q] x[b, g(o) C/g + c, i s + p d, j s + q d]``
    (zero padding). Lava's ``Conv`` flips the kernel (a true convolution); builders pass it flipped.

    numpy: ``blas.IntConv2d``, one im2col GEMM in float32/float64 where the bound
    ``row_abs_sum(w) max|x|`` proves it exact, else int64. torch: ``conv2d_torch``, one float ``conv2d``
    (CUDA has no integer conv) in the type the same bound proves exact (float32 below 2^24, float64 below
    2^53), so every partial sum is an exactly held integer; larger sums are refused.

    Raises:
        ValueError: channel mismatch, or (torch) sums that could reach 2^53.
    """
    (sh, sw), (dh, dw), pad = _pair(stride), _pair(dilation), _pair(padding)
    B, C = x.shape[:2]
    O, Cg, kh, kw = w.shape
    if C != Cg * groups:
        raise ValueError(f"{name}: input has {C} channels, weight expects {Cg} x {groups} groups")
    if _is_torch(x):
        return conv2d_torch(x, w, (sh, sw), pad, (dh, dw), groups, name=name).long()
    if isinstance(pad, str):
        raise ValueError(f"{name}: string padding {pad!r} is not supported; write integers")
    return IntConv2d(w, (sh, sw), pad, (dh, dw), groups, name=name)(np.asarray(x))


def conv2d_torch(x, w, stride=1, padding=0, dilation=1, groups=1, bias=None, name: str = "conv"):
    """``conv2d(x, w) + bias`` on torch tensors, exact, in the narrowest integer type that holds it.

    One float ``conv2d`` (CUDA has no integer conv) in the type ``blas.exact_dtype`` proves exact for
    ``bound = row_abs_sum(w) max|x| + max|bias|``: on the CPU float32 below 2^24, returned as int32, and
    float64 below 2^53, returned as int64 (NNPACK's Winograd off); on CUDA always float64 and rounded
    (cuDNN may pick FFT or Winograd algorithms, whose errors float64 keeps far below 0.5). ``bias`` (O,)
    rides on the convolution. ``conv2d``'s torch path is this, as int64.

    Raises:
        ValueError: sums that could reach 2^53.
    """
    torch = sys.modules["torch"]
    (sh, sw), (dh, dw), pad = _pair(stride), _pair(dilation), _pair(padding)
    w = w.to(x.device)
    row = float(w.abs().flatten(1).sum(1, dtype=torch.float64).max()) if w.numel() else 0.0
    xmax = 0.0
    if x.numel():
        lo, hi = torch.aminmax(x)
        xmax = max(-float(lo), float(hi))
    bmax = float(bias.abs().max()) if bias is not None and bias.numel() else 0.0
    bound = row * xmax + bmax
    dtype = exact_dtype(bound)
    if dtype is None:
        raise ValueError(f"{name}: partial sums may reach {bound:.3g} >= 2^53, so float64 is not exact; "
                         "inputs or weights are far outside the Loihi integer ranges")
    if x.is_cuda:  # cuDNN may choose FFT or Winograd algorithms, exact only to rounding: float64, rounded
        dtype = np.float64
    dtype, out = (torch.float32, torch.int32) if dtype == np.float32 else (torch.float64, torch.int64)
    b = None if bias is None else bias.to(x.device, dtype)
    # NNPACK (CPU batches of 16 and more when oneDNN is off) convolves 3x3 kernels by Winograd: not exact.
    # Off here; oneDNN's direct convolution and the im2col fallback sum exact products.
    with torch.backends.nnpack.flags(enabled=False):
        y = torch.nn.functional.conv2d(x.to(dtype), w.to(dtype), b, (sh, sw), pad, (dh, dw), groups)
    return y.round_().to(out)  # integers already on the CPU; rounding absorbs the GPU algorithms' error
