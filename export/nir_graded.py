"""NIR extension nodes for graded (non-spiking) values: the membrane max-pool of the SDT-V1 patchifier.

``DS2TAGradedMaxPool2d`` (float graphs only)::

    out[c, i, j] = max over the window of input[c, :, :]     # padded positions are ignored (-inf)

It is what STAtten's SPS does to membrane values (``pooling_stat`` flag 3). No Loihi-2 neuron computes a
max of several graded inputs (a neuron only sees their sum), so the quantizer expands the node into a
comparison network, ``max(a, b) = a + relu(b - a)``, of ``DS2TAGraded`` units joined by integer
``Conv2d`` nodes (``ds2ta.export.maxpool_tree``). An integer graph therefore never holds this node.

``DS2TAGraded`` (integer graphs)::

    out[t] = max(in[t], 0)   if relu        # lava-nc GradedReluVec(vth=0)
    out[t] = in[t]           otherwise      # lava-nc GradedVec(vth=0)

with ``in[t]`` the sum of the unit's inputs at step ``t``: a memoryless population sending its value as
a graded (24-bit) message, no ``<< 6`` (unlike a LIF-based relay). Its value is carried exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict

import numpy as np
from nir.ir.node import NIRNode

GRADED_VERSION = 1


def _common(node) -> Dict[str, Any]:
    return {"type": type(node).__name__, "metadata": node.metadata, "version": node.version}


def _check_version(node) -> None:
    if node.version != GRADED_VERSION:
        raise ValueError(f"{type(node).__name__} version {node.version} is not supported "
                         f"(this package reads version {GRADED_VERSION})")


@dataclass(eq=False)
class DS2TAGraded(NIRNode):
    """A memoryless graded unit population (see module docstring).

    Attributes:
        shape: population shape, e.g. ``(C, H, W)``.
        relu: True: ``max(x, 0)`` (GradedReluVec); False: ``x`` (GradedVec).
        version: extension version (1).
    """

    shape: Any
    relu: bool = False
    version: int = GRADED_VERSION

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in np.asarray(self.shape).reshape(-1))
        self.relu, self.version = bool(self.relu), int(self.version)
        if not self.shape or min(self.shape) < 1:
            raise ValueError(f"DS2TAGraded: shape must be positive sizes, got {self.shape}")
        _check_version(self)
        self.input_type = {"input": np.array(self.shape)}
        self.output_type = {"output": np.array(self.shape)}

    def to_dict(self) -> Dict[str, Any]:
        d = _common(self)
        d.update(shape=np.array(self.shape), relu=int(self.relu))
        return d

    @classmethod
    def from_dict(cls, kwargs: Dict[str, Any]):
        kw = {k: v for k, v in kwargs.items() if k != "type"}
        kw["relu"] = bool(np.asarray(kw.get("relu", 0)))
        return cls(**kw)


@dataclass(eq=False)
class DS2TAGradedMaxPool2d(NIRNode):
    """Max-pool of graded values with padding ignored (float graphs; see module docstring).

    Attributes:
        channels: C.
        input_shape: ``(H, W)`` of the input grid.
        kernel_size, stride, padding: as ``torch.nn.functional.max_pool2d`` (square, ints).
        version: extension version (1).
    """

    channels: int
    input_shape: Any
    kernel_size: int = 3
    stride: int = 2
    padding: int = 1
    version: int = GRADED_VERSION

    def __post_init__(self) -> None:
        self.channels, self.version = int(self.channels), int(self.version)
        self.kernel_size, self.stride, self.padding = (int(np.asarray(v).reshape(-1)[0])
                                                       for v in (self.kernel_size, self.stride, self.padding))
        self.input_shape = tuple(int(s) for s in np.asarray(self.input_shape).reshape(-1))
        if len(self.input_shape) != 2 or self.padding * 2 > self.kernel_size or self.kernel_size < 1:
            raise ValueError(f"DS2TAGradedMaxPool2d: input_shape (H, W) and padding <= kernel_size / 2 "
                             f"needed, got {self.input_shape}, kernel {self.kernel_size}, padding {self.padding}")
        _check_version(self)
        self.input_type = {"input": np.array((self.channels, *self.input_shape))}
        self.output_type = {"output": np.array((self.channels, *self.output_hw))}

    @property
    def output_hw(self) -> tuple:
        k, s, p = self.kernel_size, self.stride, self.padding
        return tuple((n + 2 * p - k) // s + 1 for n in self.input_shape)

    def to_dict(self) -> Dict[str, Any]:
        d = _common(self)
        d.update(channels=self.channels, input_shape=np.array(self.input_shape), kernel_size=self.kernel_size,
                 stride=self.stride, padding=self.padding)
        return d

    @classmethod
    def from_dict(cls, kwargs: Dict[str, Any]):
        return cls(**{k: v for k, v in kwargs.items() if k != "type"})


SIGMA_DELTA_MODES = ("delta", "sigma_delta", "sigma")


@dataclass(eq=False)
class DS2TASigmaDelta(NIRNode):
    """A sigma-delta neuron population (lava-nc ``Delta`` / ``SigmaDelta`` / ``Sigma``, as lava-dl netx builds an
    SDNN), integer parameters in the units the file gives them; dynamics in ``ds2ta.hardware.sigma_delta``::

        delta:        act = x << (spike_exp + state_exp)                    (input layer, no state but act)
        sigma_delta:  sigma += x;  act = relu?(sigma + bias << (spike_exp + state_exp))
        both:         d = act - act_prev + residue;  s = d if |d| >= vth << (spike_exp + state_exp) else 0
                      residue = d - s;  act_prev = act;  out = s >> state_exp    (graded message)
        sigma:        sigma += x;  out = sigma                                  (read-out, no threshold)

    Attributes:
        shape: population shape, e.g. ``(C, H, W)``.
        vth: threshold mantissa (netx ``vThMant``), per neuron (broadcast to ``shape``).
        bias: bias mantissa per neuron (netx's layer bias; 0 in the delta and sigma modes).
        mode: ``"delta"``, ``"sigma_delta"`` or ``"sigma"``.
        relu: ReLU activation (lava-nc ``ActivationMode.RELU``); False: identity (``UNIT``).
        spike_exp, state_exp: the fixed-point exponents (netx: 6 and 6).
        version: extension version (1).
    """

    shape: Any
    vth: Any = 0
    bias: Any = 0
    mode: str = "sigma_delta"
    relu: bool = True
    spike_exp: int = 6
    state_exp: int = 6
    version: int = GRADED_VERSION

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in np.asarray(self.shape).reshape(-1))
        if not self.shape or min(self.shape) < 1:
            raise ValueError(f"DS2TASigmaDelta: shape must be positive sizes, got {self.shape}")
        m = np.asarray(self.mode).reshape(-1)[0] if isinstance(self.mode, np.ndarray) else self.mode
        self.mode = m.decode() if isinstance(m, bytes) else str(m)  # a string, or what NIR's HDF5 reader gives
        if self.mode not in SIGMA_DELTA_MODES:
            raise ValueError(f"DS2TASigmaDelta: mode {self.mode!r} is not one of {SIGMA_DELTA_MODES}")
        self.relu, self.version = bool(np.asarray(self.relu)), int(self.version)
        self.spike_exp, self.state_exp = int(self.spike_exp), int(self.state_exp)
        if min(self.spike_exp, self.state_exp) < 0:
            raise ValueError(f"DS2TASigmaDelta: negative exponent (spike_exp {self.spike_exp}, state_exp "
                             f"{self.state_exp})")
        for k in ("vth", "bias"):
            a = np.asarray(getattr(self, k))
            if a.dtype.kind == "f" and np.any(a != np.round(a)):
                raise ValueError(f"DS2TASigmaDelta: {k} must be integers (the chip's mantissas)")
            setattr(self, k, np.array(np.broadcast_to(a.astype(np.int64), self.shape)))
        if self.mode != "sigma_delta" and np.any(self.bias):
            raise ValueError(f"DS2TASigmaDelta: a {self.mode} population has no bias (lava-nc's {self.mode.title()} "
                             "takes none)")
        if np.any(self.vth < 0):
            raise ValueError("DS2TASigmaDelta: vth must be >= 0")
        _check_version(self)
        self.input_type = {"input": np.array(self.shape)}
        self.output_type = {"output": np.array(self.shape)}

    def to_dict(self) -> Dict[str, Any]:
        d = _common(self)
        d.update(shape=np.array(self.shape), vth=self.vth, bias=self.bias, mode=self.mode, relu=int(self.relu),
                 spike_exp=self.spike_exp, state_exp=self.state_exp)
        return d

    @classmethod
    def from_dict(cls, kwargs: Dict[str, Any]):
        return cls(**{k: v for k, v in kwargs.items() if k != "type"})
