"""A neutral, exporter-independent description of one layer as the mapper sees it.

The mapper never looks at torch modules or NIR nodes: adapters (``nir_adapter.py``, ``pilotnet.py``)
turn those into ``LayerSpec``s. Shapes are (W, H, C) as Lava lays out neurons; dense layers use
(1, 1, N).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

KINDS = ("input", "conv", "dense", "attention", "pool", "readout", "lowered")
LOWERED = "lowered"  # a population of a lowered attention (attention_lowering.py; sparse synapses)


@dataclass(frozen=True)
class LayerSpec:
    """One population of neurons and the synapses that feed it.

    Attributes:
        name: Unique layer name (a graph node name).
        kind: One of ``KINDS``. ``input`` has no synapses (graded input enters as bias or messages).
        out_shape: Neuron grid (W, H, C); ``neurons`` is its product.
        fan_in: Distinct presynaptic inputs one neuron sums (dense: in_features; conv: C_in*kW*kH).
        sources: Names of the layers whose spikes arrive here (one edge each; NIR sums them).
        in_shape: Input grid (W, H, C) for conv/pool layers (used for per-core fan-in and routing).
        kernel: (kW, kH) for conv/pool.
        stride: (sW, sH) for conv/pool.
        padding: (pW, pH) for conv/pool.
        shared_weights: True when every position reuses one kernel (conv): a core stores the kernel
            of the channels it holds once, not once per neuron.
        replicas: Weight copies per synapse (TASA: one delayed replica a_k W per window step).
        rewritten_entries_per_neuron: Synaptic-memory entries an attention lowering rewrites every
            step (spike x spike products stored as weights), per output neuron.
        weight_bits: Weight mantissa width.
        graded_input: The inputs are integer payloads (first layer, direct encoding): MACs, not ACs.
        meta: Free-form facts (JSON-able). A ``lowered`` population keeps ``entry_runs``: ``[[neurons,
            entries per neuron], ...]`` in flat neuron order (its stored sparse synapses), and its
            ``attention`` node, ``unit``, ``process``, ``spiking``, ``stage`` and ``operand_layers``.
    """

    name: str
    kind: str
    out_shape: tuple[int, int, int]
    fan_in: int = 0
    sources: tuple[str, ...] = ()
    in_shape: tuple[int, int, int] | None = None
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    shared_weights: bool = False
    replicas: int = 1
    rewritten_entries_per_neuron: int = 0
    weight_bits: int = 8
    graded_input: bool = False
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("LayerSpec.name must be a non-empty string")
        if self.kind not in KINDS:
            raise ValueError(f"layer {self.name!r}: kind={self.kind!r}; choose one of {KINDS}")
        if len(self.out_shape) != 3 or min(self.out_shape) < 1:
            raise ValueError(f"layer {self.name!r}: out_shape={self.out_shape} must be three positive ints (W, H, C)")
        if self.fan_in < 0 or self.replicas < 1 or self.rewritten_entries_per_neuron < 0:
            raise ValueError(f"layer {self.name!r}: fan_in >= 0, replicas >= 1, rewritten entries >= 0 required")
        if self.kind not in ("input", LOWERED) and self.fan_in == 0:
            raise ValueError(f"layer {self.name!r}: a {self.kind} layer needs fan_in > 0")
        if self.shared_weights and self.in_shape is None:
            raise ValueError(f"layer {self.name!r}: shared (conv) weights need in_shape=(W, H, C_in)")
        object.__setattr__(self, "out_shape", tuple(int(s) for s in self.out_shape))
        object.__setattr__(self, "sources", tuple(self.sources))

    @property
    def neurons(self) -> int:
        w, h, c = self.out_shape
        return w * h * c

    @property
    def channels(self) -> int:
        return self.out_shape[2]

    @property
    def entries_per_neuron(self) -> int:
        """Synapse entries one neuron needs when weights are not shared.

        An attention core stores no static weights for its q/k/v inputs: its memory is the operand
        share rewritten every step (``rewritten_entries_per_neuron``)."""
        static = 0 if self.kind == "attention" else self.fan_in * self.replicas
        return static + self.rewritten_entries_per_neuron

    @property
    def entry_runs(self) -> list[tuple[int, int]]:
        """``(neurons, entries per neuron)`` runs in flat order: a lowered population's stored sparse
        synapses (``meta["entry_runs"]``), else one run of ``entries_per_neuron``."""
        runs = self.meta.get("entry_runs") if self.kind == LOWERED else None
        return [(int(n), int(e)) for n, e in runs] if runs else [(self.neurons, self.entries_per_neuron)]

    @property
    def entries_per_channel(self) -> int:
        """Shared (conv) kernel entries for one output channel: C_in*kW*kH*replicas."""
        return self.fan_in * self.replicas

    @property
    def synapse_entries(self) -> int:
        """Entries the whole layer needs if placed on one core (conv: kernel stored once)."""
        if self.shared_weights:
            return self.channels * self.entries_per_channel + self.neurons * self.rewritten_entries_per_neuron
        return sum(n * e for n, e in self.entry_runs)

    @property
    def dense_ops_per_step(self) -> int:
        """Synaptic operations per step with every input active (NeuroBench 'dense')."""
        return self.neurons * self.fan_in * self.replicas

    @property
    def model_macs_per_step(self) -> int:
        """Operations of the model this layer computes with every input active (a GPU's work): 0 for a
        lowered attention population (the lowering is the chip's program, not the model's work); a
        layer fed by a lowered attention counts the attention's ``meta["model_fan_in"]``."""
        if self.kind == LOWERED:
            return 0
        return self.neurons * int(self.meta.get("model_fan_in", self.fan_in)) * self.replicas

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["neurons"] = self.neurons
        d["synapse_entries"] = self.synapse_entries
        d["model_macs_per_step"] = self.model_macs_per_step
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LayerSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        for k in ("out_shape", "in_shape", "kernel", "stride", "padding", "sources"):
            if kw.get(k) is not None:
                kw[k] = tuple(kw[k])
        return cls(**kw)


def dense(name: str, n_in: int, n_out: int, sources=(), **kw) -> LayerSpec:
    """A fully connected layer ``n_in -> n_out``."""
    return LayerSpec(name, "dense", (1, 1, n_out), fan_in=n_in, sources=tuple(sources), **kw)


def conv(name: str, in_shape, out_channels: int, kernel=(3, 3), stride=(1, 1), padding=(0, 0),
         sources=(), **kw) -> LayerSpec:
    """A 2-D convolution on a (W, H, C) grid; output size from the usual formula."""
    w, h, c = in_shape
    ow = (w + 2 * padding[0] - kernel[0]) // stride[0] + 1
    oh = (h + 2 * padding[1] - kernel[1]) // stride[1] + 1
    if ow < 1 or oh < 1:
        raise ValueError(f"layer {name!r}: kernel {kernel} larger than the padded input {in_shape}")
    return LayerSpec(name, "conv", (ow, oh, out_channels), fan_in=c * kernel[0] * kernel[1],
                     sources=tuple(sources), in_shape=tuple(in_shape), kernel=tuple(kernel),
                     stride=tuple(stride), padding=tuple(padding), shared_weights=True, **kw)
