"""NIR extension node types for what NIR 1.0 lacks: spike x spike attention cores.

Two versioned node types (see docs/nir-format.md for the integer semantics):

``DS2TASpikeAttention``  spatial attention per time step, operands ``q, k, v`` (binary spikes)::

    A[h]   = Q_h K_h^T                      # (N, N) integers 0..d, per head h
    S[h]   = table[h, A[h]]                 # NSAD lookup (identity table = plain SSA)
    out[h] = shift_right(S[h] V_h, shift)   # (N, d) integers, heads merged back to channels

``DS2TABlockAttention``  STAtten: tokens of ``chunk`` consecutive steps form one block::

    out_b = shift_right(Q_b (K_b^T V_b), shift)

Tensors use the exporter's channel-first token layout ``(D, g, g)``: channel ``c = h * d + j`` is
element ``j`` of head ``h``; token ``n = row * g + col``. ``operands`` names the source nodes of
``q, k, v`` in that order, because NIR edges carry no operand order (several edges are summed).

NIR keeps its node types in a private list (``nir.ir.__all_ir``); ``register()`` adds these classes
to it so that ``nir.read`` works. ``unregistered()`` removes them temporarily (for tests).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List

import nir
import nir.ir
import numpy as np
from nir.ir.node import NIRNode

EXTENSION_VERSION = 1


def _shape_check(node_name: str, operands, channels: int, heads: int, tokens_shape) -> None:
    if len(operands) != 3:
        raise ValueError(f"{node_name}: operands must name the q, k, v source nodes (3 names), "
                         f"got {list(operands)}")
    if heads < 1 or channels % heads:
        raise ValueError(f"{node_name}: channels={channels} must be a positive multiple of heads={heads}")
    if len(tokens_shape) != 2 or min(tokens_shape) < 1:
        raise ValueError(f"{node_name}: tokens_shape must be (rows, cols), got {tokens_shape}")


def _operand_list(ops) -> List[str]:
    if isinstance(ops, dict):  # as written to HDF5: {"q": name, "k": name, "v": name}
        ops = [ops.get(k, "") for k in "qkv"]
    return [o.decode() if isinstance(o, bytes) else str(o) for o in list(ops)]


def _common_dict(node: NIRNode) -> Dict[str, Any]:
    d = {"type": type(node).__name__, "metadata": node.metadata}
    return d

def _finish(node) -> None:
    """Shared tail of the attention nodes' validation: version check, then (D, *tokens) port types."""
    if node.version != EXTENSION_VERSION:
        raise ValueError(f"{type(node).__name__} version {node.version} is not supported "
                         f"(this package reads version {EXTENSION_VERSION})")
    shape = np.array((node.channels, *node.tokens_shape))
    node.input_type = {"input": shape}
    node.output_type = {"output": shape}

class _AttentionNode(NIRNode):
    """What both attention extension nodes share: the head width and reading back from a dict."""

    @property
    def head_dim(self) -> int:
        return self.channels // self.heads

    @classmethod
    def from_dict(cls, kwargs: Dict[str, Any]):
        return cls(**{k: v for k, v in kwargs.items() if k != "type"})


@dataclass(eq=False)
class DS2TASpikeAttention(_AttentionNode):
    """Per-step spatial spike attention with an NSAD lookup table.

    Attributes:
        channels: D = heads * head_dim.
        heads: number of heads H.
        tokens_shape: token grid ``(rows, cols)``; tensors are ``(D, rows, cols)``.
        table: ``(H, head_dim + 1)`` lookup table, integers after quantization (identity = no NSAD).
        shift: result ``>> shift`` (floor) when ``shift >= 0``, ``<< -shift`` otherwise.
        scale: float meaning: exported current = ``scale * (table_float[A] V)`` (before quantization).
        operands: names of the q, k, v source nodes, in that order.
        version: extension version (1).
    """

    channels: int
    heads: int
    tokens_shape: Any
    table: np.ndarray
    shift: int = 0
    scale: float = 1.0
    operands: List[str] = field(default_factory=list)
    version: int = EXTENSION_VERSION

    def __post_init__(self) -> None:
        self.channels, self.heads, self.shift = int(self.channels), int(self.heads), int(self.shift)
        self.scale, self.version = float(self.scale), int(self.version)
        self.tokens_shape = tuple(int(x) for x in np.asarray(self.tokens_shape).reshape(-1))
        self.operands = _operand_list(self.operands)
        self.table = np.asarray(self.table)
        _shape_check(type(self).__name__, self.operands, self.channels, self.heads, self.tokens_shape)
        d = self.channels // self.heads
        if self.table.shape != (self.heads, d + 1):
            raise ValueError(f"DS2TASpikeAttention: table must have shape (heads, head_dim + 1) = "
                             f"({self.heads}, {d + 1}), got {self.table.shape}")
        _finish(self)


    def to_dict(self) -> Dict[str, Any]:
        d = _common_dict(self)
        d.update(channels=self.channels, heads=self.heads, tokens_shape=np.array(self.tokens_shape),
                 table=self.table, shift=self.shift, scale=self.scale,
                 operands=dict(zip("qkv", self.operands)), version=self.version)
        return d



@dataclass(eq=False)
class DS2TABlockAttention(_AttentionNode):
    """STAtten block attention ``Q_b (K_b^T V_b)`` over blocks of ``chunk`` steps (non-causal inside).

    Attributes:
        channels, heads, tokens_shape, shift, scale, operands, version: as in ``DS2TASpikeAttention``.
        chunk: time steps per block; the output of every step of block b needs the whole block, so a
            causal executor (the chip) buffers q, k, v for ``chunk`` steps and emits ``chunk - 1``
            steps late. The reference executor computes it with the whole sequence at hand.
    """

    channels: int
    heads: int
    tokens_shape: Any
    chunk: int
    shift: int = 0
    scale: float = 1.0
    operands: List[str] = field(default_factory=list)
    version: int = EXTENSION_VERSION

    def __post_init__(self) -> None:
        self.channels, self.heads, self.shift = int(self.channels), int(self.heads), int(self.shift)
        self.chunk, self.scale, self.version = int(self.chunk), float(self.scale), int(self.version)
        self.tokens_shape = tuple(int(x) for x in np.asarray(self.tokens_shape).reshape(-1))
        self.operands = _operand_list(self.operands)
        _shape_check(type(self).__name__, self.operands, self.channels, self.heads, self.tokens_shape)
        if self.chunk < 1:
            raise ValueError(f"DS2TABlockAttention: chunk={self.chunk} must be >= 1")
        _finish(self)


    def to_dict(self) -> Dict[str, Any]:
        d = _common_dict(self)
        d.update(channels=self.channels, heads=self.heads, tokens_shape=np.array(self.tokens_shape),
                 chunk=self.chunk, shift=self.shift, scale=self.scale,
                 operands=dict(zip("qkv", self.operands)), version=self.version)
        return d



from ds2ta.export.nir_graded import DS2TAGraded, DS2TAGradedMaxPool2d, DS2TASigmaDelta  # noqa: E402 (graded nodes)

EXTENSION_NODES = {c.__name__: c for c in (DS2TASpikeAttention, DS2TABlockAttention, DS2TAGraded,
                                          DS2TAGradedMaxPool2d, DS2TASigmaDelta)}


def _registry() -> list:
    reg = getattr(nir.ir, "__all_ir", None)
    if not isinstance(reg, list):  # pragma: no cover - depends on the nir version
        raise RuntimeError(f"nir {nir.version if hasattr(nir, 'version') else '?'}: cannot find the node "
                           "registry nir.ir.__all_ir; ds2ta extension nodes need nir 1.0.x")
    return reg


def register() -> None:
    """Make ``nir.read`` understand the ds2ta extension node types (idempotent)."""
    reg = _registry()
    for name, cls in EXTENSION_NODES.items():
        if name not in reg:
            reg.append(name)
        setattr(nir.ir, name, cls)


def unregister() -> None:
    """Remove the extension node types from NIR's registry (a reader without this package)."""
    reg = _registry()
    for name in EXTENSION_NODES:
        while name in reg:
            reg.remove(name)
        if hasattr(nir.ir, name):
            delattr(nir.ir, name)


@contextlib.contextmanager
def unregistered() -> Iterator[None]:
    """Context in which ``nir.read`` behaves as without ``ds2ta.export`` (for tests)."""
    was = all(n in _registry() for n in EXTENSION_NODES)
    unregister()
    try:
        yield
    finally:
        if was:
            register()
