"""Intel-like allocation: how many neurons Intel's Loihi 2 compiler put on a core, as stated rules.

The project's default mapping (``mapper.map_layers`` with ``core.LOIHI2``) packs cores to the vendor
limits and stays the optimistic bound. This module models what Intel's compiler (Lava's Loihi 2 back
end, lava-dl's PilotNet benchmarks, 2022) actually did; it reproduces every row of both published
per-core tables (PilotNet-LIF 74 cores, PilotNet SDNN 61; ``pilotnet_alloc``, docs/hardware.md,
"Intel-like allocation"). Rules:

- R1 neuron budget, conv and input layers: a core holds a slice of whole columns (all H rows, all
  C channels) whose width ``w`` is a power of two, the widest with ``w * H * C <= neuron_budget``;
  ``cores = ceil(W / w)``.
- R2 synapse-list encoding: an input axon's list of ``n`` synapses on one core takes
  ``ceil((n * (b + entry_extra_bits) + list_header_bits) / word_bits)`` words, ``b`` the layer's
  weight mantissa bits (``weight_mantissa_bits``).
- R3 ratio split (dense layers): ``n`` neurons per core start at the whole layer; while a core's
  cost exceeds a budget, ``n = ceil(n / r)`` with ``r = max(ceil(cost / budget))`` over the
  synaptic memory (``axons * words(n)`` against ``synmem_budget``) and the neuron budget;
  ``cores = ceil(N / n)``, filled in order (the last core takes the rest).
- R4 conv kernels (not exercised by PilotNet): a core holding ``c`` channels stores
  ``C_in * kW * kH`` lists of ``c`` synapses; R2 is an upper bound of Intel's conv encoding (which is
  not reproduced), and channel groups follow R3 when it exceeds the budget.

Every constant is a ``Cited`` (grade D marks the fitted ones, named in ``FITTED``). What the compiler's
table prints is modelled too (``LayerAlloc.printed_*``): a dense row prints the mean per core, a conv
row its slice; axon-map entries follow an observed pattern (``axon_in``); axon memory is not modelled.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .core import Cited
from .layers import LayerSpec
from .rules import MappingError

_LOG = ("Lava's Loihi 2 compiler log in lava-dl's PilotNet benchmark notebooks "
        "(tutorials/lava/lib/dl/netx/pilotnet_{snn,sdnn}/benchmark.ipynb; data/pilotnet_sdnn/README.md)")
_NENGO = ("Loihi 1 synapse encoding as nengo-loihi computes it for NxSDK (nengo_loihi/block.py, "
          "SynapseConfig.bits_per_axon)")
FITTED = ("neuron_budget", "entry_extra_bits")  # constants fitted to Intel's tables (see their sources)
ALLOCATED_KINDS = ("input", "conv", "dense", "readout")  # kinds the rules cover; others are refused


@dataclass(frozen=True)
class IntelLikeSpec:
    """The constants of the Intel-like rules; each a ``Cited`` (grade D: derived, assumed or fitted).

    Attributes:
        neuron_budget: Most neurons (compartments) in one core's slice (R1, R3).
        synmem_budget: Synaptic-memory words the compiler allows one core (R3).
        word_bits: Bits of one synaptic-memory word (R2).
        list_header_bits: Bits every synapse list carries besides its synapses (R2).
        entry_extra_bits: Bits each stored synapse carries besides its weight mantissa (R2).
    """

    name: str = "Loihi 2 (Intel-like allocation)"
    neuron_budget: Cited = Cited(
        4095, "neurons", "FITTED on PilotNet-LIF's table: its Input slice (16 x 66 x 3 = 3,168) needs >= 3,168 and "
        "Conv3's rejected 16-column slice (16 x 4 x 64 = 4,096) needs <= 4,095; any value in [3168, 4095] "
        "reproduces both tables; checked on PilotNet SDNN: its five conv rows reproduce (alone they allow "
        "[3072, 4095]; the conv geometry is LIF's, so the check is weak). Fewer than half (4,096) of the "
        "8,192 per core of Intel's Loihi 2 brief; the compiler's own figure is unpublished", "D")
    synmem_budget: Cited = Cited(
        12000, "words", _LOG + ": cost_db.registers['SynMem'] = 12000, the budget its SynMem violations "
        "(61,440 / 66,560 / 12,800) are checked against; unit taken as R2's words (the logged allocations are "
        "2,560 axons x 24 / 26 / 5 words)", "V")
    word_bits: Cited = Cited(64, "bits", _NENGO + ": a synapse group is rounded up to whole 64-bit words; "
                             "assumed unchanged on Loihi 2", "D")
    list_header_bits: Cited = Cited(
        10, "bits", _NENGO + ": 4-bit synapse-format index + 6-bit synapse count per group; assumed unchanged "
        "on Loihi 2 (with the other constants both tables allow 2-22)", "D")
    entry_extra_bits: Cited = Cited(
        12, "bits", "FITTED on PilotNet-LIF: the logged SynMem allocation 61,440 = 2,560 axons x 24 words for "
        "Dense 2560->100 on one core (3-bit weights) makes 12 the only integer; checked on PilotNet SDNN (66,560 = "
        "2,560 x 26 words at 4 bits, 12,800, and its printed 1,500 / 150 / 10 / 7,253). Loihi 1's widest sparse "
        "index is 12 bits (nengo-loihi INDEX_BITS_MAP); Loihi 2's synapse format is unpublished", "D")

    def to_dict(self) -> dict:
        out = {"name": self.name}
        for f in dataclasses.fields(self):
            if f.name != "name":
                out[f.name] = dict(getattr(self, f.name).to_dict(), fitted=f.name in FITTED)
        return out


INTEL_LIKE = IntelLikeSpec()


def weight_mantissa_bits(weights: np.ndarray) -> int:
    """Bits of the weight mantissa Lava stores for a layer (lava-dl netx's rule for dense layers).

    The integer weights (|w| <= 256) share a power-of-two factor ``2**t`` (t <= 8); the mantissas
    ``m = w / 2**t`` need: two's complement bits when some weight is negative and some is not (the
    mixed sign mode), ``max(m).bit_length()`` when none is negative, ``(max|m| - 1).bit_length()`` when
    all are (netx scales an inhibitory layer to -256). Source: lava-dl ``netx.utils.optimize_weight_bits``
    (``num_weight_bits``; its scale and precision arithmetic reduces to this), which netx applies to every
    dense layer (V: vendor software). Example: weights in {-6, ..., 6}, all even: mantissa -3..3, 3 bits.
    """
    w = np.asarray(weights).astype(np.int64).ravel()
    if w.size == 0 or not np.any(w):
        return 1
    t = 0
    while t < 8 and np.all(w % (2 ** (t + 1)) == 0):
        t += 1
    m = w >> t
    lo, hi = int(m.min()), int(m.max())
    if hi < 0:
        return (-lo - 1).bit_length()
    if lo >= 0:
        return hi.bit_length()
    return max(hi.bit_length(), (-lo - 1).bit_length()) + 1


def list_words(n: int, bits: int, spec: IntelLikeSpec = INTEL_LIKE) -> int:
    """R2: words one input axon's list of ``n`` synapses of ``bits``-bit weights takes on one core."""
    per_entry = bits + spec.entry_extra_bits.value
    return int(math.ceil((n * per_entry + spec.list_header_bits.value) / spec.word_bits.value))


def ratio_split(layer: str, n: int, costs) -> tuple[int, list[dict]]:
    """R3: shrink ``n`` (neurons or channels per core) until every cost fits its budget.

    Args:
        layer: Layer name (for the error).
        n: Units on one core to start from (the whole layer).
        costs: ``[(resource, cost(n) -> amount, budget, unit)]``.

    Returns:
        ``n`` per core and the steps taken (``[{"n", "resource", "amount", "ratio"}]``, the compiler's
        logged violations and ``max_ratio``).

    Raises:
        MappingError: one unit alone exceeds a budget.
    """
    steps = []
    while True:
        over = [(math.ceil(f(n) / b), res, f(n), b, u) for res, f, b, u in costs]
        r, res, amount, budget, unit = max(over, key=lambda o: o[0])
        if r <= 1:
            return n, steps
        if n == 1:
            raise MappingError(layer, f"{res} (Intel-like)", budget, amount, unit,
                               "One neuron's (or one channel's) synapses exceed the budget: use the vendor-limit "
                               "mapping or reduce the fan-in.")
        steps.append({"n": n, "resource": res, "amount": amount, "ratio": r})
        n = int(math.ceil(n / r))


def conv_slice_width(height: int, channels: int, spec: IntelLikeSpec = INTEL_LIKE) -> int:
    """R1: the widest power-of-two column count ``w`` with ``w * height * channels <= neuron_budget``."""
    if height * channels > spec.neuron_budget.value:
        return 0
    w = 1
    while 2 * w * height * channels <= spec.neuron_budget.value:
        w *= 2
    return w


@dataclass(frozen=True)
class LayerAlloc:
    """One layer as the Intel-like rules place it.

    Attributes:
        name, kind, neurons: The layer.
        per_core: Most neurons on one core (conv: the slice ``cols * H * channels``).
        cores: Cores of the layer.
        limited_by: ``"neuron budget"``, ``"synaptic memory"`` or ``"one core"``.
        cols: Slice width in columns (input/conv), None for dense.
        channel_groups: Output-channel groups (conv, R4); 1 for the other kinds.
        core_neurons: Neurons on each core, in order.
        words: Synaptic-memory words on each core (dense: R2 exactly; conv: R2's upper bound).
        axon_in, axon_map: Input axons per core and axon-map entries per core as the compiler prints
            them (observed pattern, see ``allocate``).
        steps: The ratio-split steps (R3).
    """

    name: str
    kind: str
    neurons: int
    per_core: int
    cores: int
    limited_by: str
    cols: int | None
    channel_groups: int
    core_neurons: tuple[int, ...]
    words: tuple[int, ...]
    axon_in: int
    axon_map: int
    steps: tuple[dict, ...] = ()

    @property
    def printed_neurons(self) -> int:
        """The compiler table's 'Neurons': a conv/input slice, a dense layer's mean per core (floor):
        PilotNet's Dense 2560->100 prints 8 on 12 cores, so it cannot be a maximum."""
        return self.per_core if self.cols is not None else self.neurons // self.cores

    @property
    def printed_words(self) -> int | None:
        """The table's 'Synapses' (mean words per core, floor) for dense layers; None for conv (Intel's
        conv encoding is not reproduced: ``words`` is an upper bound there); 0 for input."""
        if self.kind == "input":
            return 0
        return sum(self.words) // self.cores if self.cols is None else None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.update(printed_neurons=self.printed_neurons, printed_words=self.printed_words)
        return d


def _strides_both(ls: LayerSpec) -> bool:
    return ls.kind == "conv" and ls.stride[0] == 2 and ls.stride[1] == 2


def allocate(ls: LayerSpec, dense_consumer: bool, spec: IntelLikeSpec = INTEL_LIKE) -> LayerAlloc:
    """R1-R4 for one layer.

    ``dense_consumer``: the layer's spikes feed a dense layer (or leave the chip): its axon map has one
    entry per neuron, as every dense layer's has. Otherwise (feeding a conv) one entry per output
    position (x, y), twice for a conv that strides 2 along both axes; such a conv also prints 2 input
    axons (observed on every row of both PilotNet tables, grade D; no rule of Intel's is published).

    Raises:
        ValueError: a kind outside ``ALLOCATED_KINDS`` or rewritten entries (no Intel-like rule).
        MappingError: one neuron, channel or input column alone exceeds a budget.
    """
    if ls.kind not in ALLOCATED_KINDS:
        raise ValueError(f"layer {ls.name!r}: kind {ls.kind!r} has no Intel-like rule (Intel's tables show "
                         f"{ALLOCATED_KINDS}); map it with the vendor-limit mapper (map_layers)")
    if ls.rewritten_entries_per_neuron:
        raise ValueError(f"layer {ls.name!r}: rewritten synapse entries have no Intel-like rule; use map_layers")
    neuron_cost = ("neuron budget", lambda n: n, spec.neuron_budget.value, "neurons")
    syn_budget = spec.synmem_budget.value
    if ls.kind in ("dense", "readout"):
        axons = ls.fan_in * ls.replicas  # a delayed replica arrives on its own axon (extrapolation)
        cost = ("synaptic memory", lambda n: axons * list_words(n, ls.weight_bits, spec), syn_budget, "words")
        per, steps = ratio_split(ls.name, ls.neurons, [cost, neuron_cost])
        core_neurons = [per] * (ls.neurons // per) + ([ls.neurons % per] if ls.neurons % per else [])
        words = [axons * list_words(n, ls.weight_bits, spec) for n in core_neurons]
        limited = steps[0]["resource"] if steps else "one core"
        return LayerAlloc(ls.name, ls.kind, ls.neurons, per, len(core_neurons), limited, None, 1,
                          tuple(core_neurons), tuple(words), axons, ls.neurons // len(core_neurons), tuple(steps))
    w_out, h, c = ls.out_shape
    groups, steps, words_per_core, limited = 1, [], 0, "neuron budget"
    chans = c
    if ls.kind == "conv":
        lists = ls.fan_in * ls.replicas  # C_in * kW * kH kernel taps (x replicas)
        cost = ("synaptic memory", lambda k: lists * list_words(k, ls.weight_bits, spec), syn_budget, "words")
        column = ("neuron budget", lambda k: h * k, spec.neuron_budget.value, "neurons")
        chans, steps = ratio_split(ls.name, c, [cost, column])
        groups = math.ceil(c / chans)
        words_per_core = lists * list_words(chans, ls.weight_bits, spec)
        if steps:
            limited = steps[0]["resource"]
    elif h * c > spec.neuron_budget.value:
        raise MappingError(ls.name, "neuron budget (Intel-like)", spec.neuron_budget.value, h * c, "neurons",
                           "One input column exceeds the budget: use the vendor-limit mapping.")
    cols = conv_slice_width(h, chans, spec)
    slices = math.ceil(w_out / cols)
    if slices == 1 and groups == 1:
        limited = "one core"
    core_neurons, words = [], []
    for g in range(groups):
        cg = min(chans, c - g * chans)
        for s in range(slices):
            core_neurons.append(min(cols, w_out - s * cols) * h * cg)
            words.append(words_per_core)
    n_cores = len(core_neurons)
    factor = 2 if _strides_both(ls) else 1
    axon_map = ls.neurons // n_cores if dense_consumer else factor * w_out * h // n_cores
    return LayerAlloc(ls.name, ls.kind, ls.neurons, cols * h * chans, n_cores, limited, cols, groups,
                      tuple(core_neurons), tuple(words), factor, axon_map, tuple(steps))


def intel_like_allocation(layers: list[LayerSpec], spec: IntelLikeSpec = INTEL_LIKE) -> list[LayerAlloc]:
    """R1-R4 for every layer (in order); a layer feeding only conv layers gets the conv axon map."""
    feeds: dict[str, set[str]] = {ls.name: set() for ls in layers}
    for ls in layers:
        for s in ls.sources:
            if s in feeds:
                feeds[s].add(ls.kind)
    return [allocate(ls, dense_consumer=not feeds[ls.name] or bool(feeds[ls.name] - {"conv"}), spec=spec)
            for ls in layers]


def intel_like_cores(layers: list[LayerSpec], spec: IntelLikeSpec = INTEL_LIKE) -> dict[str, int]:
    """Cores per layer under the Intel-like rules (``{name: cores}``, in layer order)."""
    return {a.name: a.cores for a in intel_like_allocation(layers, spec)}
