"""Exact integer synaptic sums at BLAS speed: float arithmetic wherever a bound proves it exact.

A weighted sum of integers ``y_i = sum_j W_ij x_j`` computed in floating point is exact, in any summation
order and with fused multiply-adds, when every product and every partial sum is an integer the format
holds exactly: below 2^24 in float32, below 2^53 in float64. All of them are bounded by
``max_i sum_j |W_ij| * max_j |x_j|``, so

    bound = row_abs_sum(W) * max|x|  <  2^24  ->  float32 (sgemm, twice the speed of float64)
                                     <  2^53  ->  float64 (dgemm)
                                     otherwise -> int64 (numpy's integer sums, no BLAS)

``row_abs_sum`` is taken once when a kernel is built; ``max|x|`` is known for spikes (1) and measured
otherwise (one pass over the input, far cheaper than the product). Loihi's 8-bit weights and 24-bit
messages keep the bound near 2^20 for spikes and 2^44 for graded values, so float64 always suffices on
the chip's ranges and float32 for most spike inputs. The result is rounded back to int64 (already an
integer). numpy only: these kernels run inside the forked Lava processes, where torch must not run
(docs/simulation.md), and in ``chip.conv2d``'s numpy path.

Three kernels, each built once from its integer weights:

- :class:`IntLinear`: a dense ``(n_out, n_in)`` matrix; spike input sums only the weight rows of the
  active inputs (event-driven, as the chip touches only active axons), graded input is one GEMV/GEMM.
- :class:`IntConv2d`: a cross-correlation (stride, zero padding, dilation, groups) as one im2col GEMM
  (batched over groups).
- :class:`IntSparse`: a sparse ``(n_out, n_in)`` matrix; only the stored synapses of nonzero inputs are
  visited (a gather of their columns and one ``bincount``), or a CSR product when most inputs are active.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

F32_EXACT = 1 << 24   # float32 holds every integer below this exactly
F64_EXACT = 1 << 53   # float64 likewise
EVENT_DENSITY = 0.25  # below this fraction of active inputs, gather their synapses instead of a full product


def exact_dtype(bound: float):
    """``np.float32`` / ``np.float64`` when a sum of integers bounded by ``bound`` is exact in it, else None."""
    if bound < F32_EXACT:
        return np.float32
    if bound < F64_EXACT:
        return np.float64
    return None


def abs_max(x: np.ndarray) -> int:
    """``max |x|`` (0 for an empty array), as a Python int."""
    return int(max(x.max(initial=0), -x.min(initial=0))) if x.size else 0


def _to_int(y: np.ndarray) -> np.ndarray:
    """A float array holding exact integers -> int64 (``rint`` guards nothing: the values are integers)."""
    return y.astype(np.int64)


class IntLinear:
    """``y = W x`` for an integer matrix ``W (n_out, n_in)``, exact.

    Args:
        weight: integer matrix (any integer or integer-valued float dtype).
    """

    def __init__(self, weight: np.ndarray):
        w = np.asarray(weight)
        if w.ndim != 2:
            raise ValueError(f"IntLinear needs a 2-D weight matrix, got shape {w.shape}")
        self.w_int = w.astype(np.int64)
        self.n_out, self.n_in = w.shape
        self.row_abs_sum = int(np.abs(self.w_int).sum(1).max(initial=0))
        self._wt: dict = {}  # dtype -> W^T (n_in, n_out), C-contiguous: rows of active inputs are contiguous

    def _weights_t(self, dtype) -> np.ndarray:
        if dtype not in self._wt:
            self._wt[dtype] = np.ascontiguousarray(self.w_int.T, dtype=dtype)
        return self._wt[dtype]

    def __call__(self, x: np.ndarray, binary: bool = False) -> np.ndarray:
        """``W x`` for ``x`` of shape ``(n_in,)`` or ``(B, n_in)``; int64, same leading shape.

        Args:
            binary: ``x`` holds only 0 and 1 (spikes): ``max|x| = 1`` without a pass over it, and a
                single vector sums the rows of its active inputs when they are few.
        """
        x = np.asarray(x)
        dtype = exact_dtype(self.row_abs_sum * (1 if binary else abs_max(x)))
        if dtype is None:
            return x.astype(np.int64) @ self.w_int.T
        wt = self._weights_t(dtype)
        if binary and x.ndim == 1:
            nz = np.flatnonzero(x != 0)  # the boolean form: numpy 1.26 scans it 10x faster than ints
            if nz.size <= EVENT_DENSITY * self.n_in:
                return _to_int(wt[nz].sum(0, dtype=dtype)) if nz.size else np.zeros(self.n_out, np.int64)
        return _to_int(x.astype(dtype) @ wt)


def _pair(v) -> tuple:
    a = np.atleast_1d(np.asarray(v)).astype(np.int64).reshape(-1)
    return (int(a[0]), int(a[-1]))


class IntConv2d:
    """Integer cross-correlation in PyTorch layout (``chip.conv2d``'s definition), exact, as one GEMM.

    ``y[b, o, i, j] = sum_{c, p, q} w[o, c, p, q] x[b, g(o) C/g + c, i s_h + p d_h - pad_h, j s_w + q d_w - pad_w]``
    with zero padding. The input's windows are gathered (im2col, a strided view copied once per call)
    into ``(B Ho Wo, C/g kh kw)`` per group and multiplied by the ``(C/g kh kw, O/g)`` weights.

    Args:
        weight: ``(O, C/g, kh, kw)`` integers.
        stride, padding, dilation: ints or pairs (integer padding only).
        groups: channel groups.
    """

    def __init__(self, weight: np.ndarray, stride=1, padding=0, dilation=1, groups: int = 1,
                 name: str = "conv"):
        w = np.asarray(weight)
        if w.ndim != 4:
            raise ValueError(f"{name}: conv weight must be (O, C/g, kh, kw), got shape {w.shape}")
        if isinstance(padding, str):
            raise ValueError(f"{name}: string padding {padding!r} is not supported; write integers")
        self.name = name
        self.w_int = w.astype(np.int64)
        O, self.cg, self.kh, self.kw = w.shape
        self.groups = int(groups)
        if O % self.groups:
            raise ValueError(f"{name}: {O} output channels do not split into {self.groups} groups")
        self.stride, self.padding, self.dilation = _pair(stride), _pair(padding), _pair(dilation)
        self.row_abs_sum = int(np.abs(self.w_int).reshape(O, -1).sum(1).max(initial=0))
        og = O // self.groups
        # (G, C/g kh kw, O/g): column index (c, p, q) in C order, as the im2col rows below
        self._wmat_int = self.w_int.reshape(self.groups, og, -1).transpose(0, 2, 1)
        self._wmat: dict = {}
        # a token-wise projection: every output reads one input position, no window to gather
        self.pointwise = (self.kh, self.kw, self.groups) == (1, 1, 1) and self.stride == (1, 1) \
            and self.padding == (0, 0)

    def _weights_pointwise(self, dtype) -> np.ndarray:
        """``(O, C)`` weights of a pointwise conv in ``dtype``."""
        key = ("pointwise", dtype)
        if key not in self._wmat:
            self._wmat[key] = np.ascontiguousarray(self.w_int[:, :, 0, 0], dtype=dtype)
        return self._wmat[key]

    def out_shape(self, H: int, W: int) -> tuple:
        """``(Ho, Wo)`` for an ``(H, W)`` input."""
        (sh, sw), (ph, pw), (dh, dw) = self.stride, self.padding, self.dilation
        return ((H + 2 * ph - dh * (self.kh - 1) - 1) // sh + 1, (W + 2 * pw - dw * (self.kw - 1) - 1) // sw + 1)

    def _weights(self, dtype) -> np.ndarray:
        if dtype not in self._wmat:
            self._wmat[dtype] = np.ascontiguousarray(self._wmat_int, dtype=dtype)
        return self._wmat[dtype]

    def columns(self, x: np.ndarray, dtype) -> np.ndarray:
        """im2col: ``(B, C, H, W)`` -> ``(G, B Ho Wo, C/g kh kw)`` in ``dtype``."""
        B, C, H, W = x.shape
        (sh, sw), (ph, pw), (dh, dw) = self.stride, self.padding, self.dilation
        Ho, Wo = self.out_shape(H, W)
        xp = np.zeros((B, C, H + 2 * ph, W + 2 * pw), dtype=dtype)
        xp[:, :, ph:ph + H, pw:pw + W] = x
        win = np.lib.stride_tricks.sliding_window_view(xp, (dh * (self.kh - 1) + 1, dw * (self.kw - 1) + 1),
                                                       axis=(2, 3))
        win = win[:, :, :sh * (Ho - 1) + 1:sh, :sw * (Wo - 1) + 1:sw, ::dh, ::dw]  # (B, C, Ho, Wo, kh, kw)
        g = self.groups
        win = win.reshape(B, g, self.cg, Ho, Wo, self.kh, self.kw)
        return np.ascontiguousarray(win.transpose(1, 0, 3, 4, 2, 5, 6)).reshape(g, B * Ho * Wo, -1)

    def __call__(self, x: np.ndarray, binary: bool = False, x_abs_max: Optional[int] = None) -> np.ndarray:
        """The convolution of ``x`` ``(B, C, H, W)`` (or ``(C, H, W)``) as int64 ``(B, O, Ho, Wo)``.

        Args:
            binary: ``x`` is 0/1 (spikes): no pass over it for its maximum.
            x_abs_max: a known bound on ``|x|`` (skips the pass).
        """
        x = np.asarray(x)
        single = x.ndim == 3
        if single:
            x = x[None]
        B, C, H, W = x.shape
        if C != self.cg * self.groups:
            raise ValueError(f"{self.name}: input has {C} channels, weight expects {self.cg} x {self.groups} groups")
        xmax = 1 if binary else (abs_max(x) if x_abs_max is None else int(x_abs_max))
        dtype = exact_dtype(self.row_abs_sum * xmax)
        Ho, Wo = self.out_shape(H, W)
        O = self.w_int.shape[0]
        if self.pointwise and dtype is not None:  # 1x1, stride 1, no padding: W (O, C) @ x (C, H W), no im2col
            y = np.matmul(self._weights_pointwise(dtype), x.reshape(B, C, H * W).astype(dtype, copy=False))
            y = _to_int(y).reshape(B, O, H, W)
            return y[0] if single else y
        if dtype is None:  # beyond float64: integer sums (outside any Loihi range)
            cols = self.columns(x.astype(np.int64), np.int64)
            y = np.matmul(cols, self._wmat_int)
        else:
            y = np.matmul(self.columns(x, dtype), self._weights(dtype))  # (G, B Ho Wo, O/g)
        y = y.reshape(self.groups, B, Ho, Wo, -1).transpose(1, 0, 4, 2, 3).reshape(B, O, Ho, Wo)
        y = _to_int(y) if dtype is not None else np.ascontiguousarray(y)
        return y[0] if single else y


class IntSparse:
    """``y = W x`` for a sparse integer matrix ``W (n_out, n_in)`` (scipy sparse), exact and event-driven.

    Inputs that are zero cost nothing: the stored synapses of the nonzero inputs are gathered from the
    matrix's columns (CSC) and added into their rows (``np.add.at`` on integers: no float pass over the
    whole output). When more than ``EVENT_DENSITY`` of the inputs are active, one CSR product in the float
    type that ``bound = row_abs_sum * max|x|`` proves exact is cheaper (int64 beyond 2^53).
    ``out_dtype=np.int32`` returns the exact sum modulo 2^32, what a 32-bit register holds (Lava's
    synapse output), without an int64 pass.
    """

    def __init__(self, weight):
        from scipy.sparse import csc_matrix

        m = csc_matrix(weight)
        m.sum_duplicates()
        self.n_out, self.n_in = m.shape
        small = lambda n: np.int32 if n < 2 ** 31 else np.int64
        self.indptr = m.indptr.astype(small(m.nnz))
        self.rows = m.indices.astype(small(self.n_out))
        w = m.data.astype(np.int64)
        self.w_abs_max = abs_max(w)
        # the one copy of the weights, as small as they allow (8-bit weights: 2 bytes each)
        self.w = w.astype(np.int16 if self.w_abs_max < 2 ** 15 else small(self.w_abs_max))
        self.row_abs_sum = int(np.bincount(self.rows, weights=np.abs(w), minlength=self.n_out).max(initial=0))
        self._csr: dict = {}

    def _csr_of(self, dtype):
        """The matrix as CSR in ``dtype`` (built when a step first needs a full product)."""
        if dtype not in self._csr:
            from scipy.sparse import csc_matrix
            self._csr[dtype] = csc_matrix((self.w.astype(dtype), self.rows, self.indptr),
                                          shape=(self.n_out, self.n_in)).tocsr()
        return self._csr[dtype]

    def __call__(self, x: np.ndarray, binary: bool = False, out_dtype=np.int64) -> np.ndarray:
        """``W x`` for ``x (n_in,)`` as ``out_dtype`` ``(n_out,)`` (int64: exact; int32: modulo 2^32)."""
        x = np.asarray(x).reshape(-1)
        nz = np.flatnonzero(x != 0)  # the boolean form: numpy 1.26 scans it 10x faster than ints
        if nz.size == 0:
            return np.zeros(self.n_out, out_dtype)
        xmax = 1 if binary else abs_max(x[nz])
        bound = self.row_abs_sum * xmax
        if bound >= F64_EXACT:
            return (self._csr_of(np.int64) @ x.astype(np.int64)).astype(out_dtype)
        if nz.size > EVENT_DENSITY * self.n_in:
            dtype = exact_dtype(bound)
            y = self._csr_of(dtype) @ x.astype(dtype)
            return y.astype(out_dtype if bound < 2 ** 31 else np.int64).astype(out_dtype, copy=False)
        starts, ends = self.indptr[nz], self.indptr[nz + 1]
        counts = ends - starts
        total = int(counts.sum())
        # positions of the active columns' entries: starts[k] + 0..counts[k]-1, concatenated
        starts, counts = starts.astype(np.int64), counts.astype(np.int64)
        pos = np.arange(total, dtype=np.int64) + np.repeat(starts - (np.cumsum(counts) - counts), counts)
        narrow = np.dtype(out_dtype).itemsize < 8 and self.w_abs_max * xmax < 2 ** 31  # every term fits
        acc = np.int32 if narrow else np.int64
        terms = self.w[pos].astype(acc, copy=False)
        if not binary:
            terms = terms * np.repeat(x[nz].astype(acc, copy=False), counts)
        y = np.zeros(self.n_out, acc)
        np.add.at(y, self.rows[pos], terms)  # integer sums: exact (int64) or modulo 2^32 (int32)
        return y.astype(out_dtype, copy=False)
