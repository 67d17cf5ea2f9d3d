"""One named rule per hardware constraint (after rockpool's Xylo mapper).

Each rule checks one resource of one core (or of the whole system) and raises ``MappingError``
naming the layer, the resource, the limit and the amount. The partitioner calls the same rules with
the smallest unit it cannot split further, so "cannot be split" and "does not fit" read the same.
"""

from __future__ import annotations

from .core import CoreSpec

MODEL = "<model>"  # the layer name of a system-wide limit (the whole model's cores on the chips)


class MappingError(ValueError):
    """A layer (or the whole model) does not fit the chosen Loihi-class system.

    Attributes:
        layer: Layer name (or ``MODEL``, ``"<model>"``, for system-wide limits).
        resource: Which limit was exceeded, e.g. ``"synaptic memory"``.
        limit: The limit value (with ``unit``).
        amount: What the layer needs.
    """

    def __init__(self, layer: str, resource: str, limit: float, amount: float, unit: str, fix: str):
        self.layer, self.resource, self.limit, self.amount, self.unit = layer, resource, limit, amount, unit
        who = "the model" if layer == MODEL else f"layer {layer!r}"
        super().__init__(f"{who} does not fit: {resource} needs {amount:g} {unit} but the limit "
                         f"is {limit:g} {unit}. {fix}")


def rule_neurons_per_core(layer: str, neurons: int, spec: CoreSpec) -> None:
    """Neurons placed on one core must not exceed ``spec.neurons_per_core``."""
    lim = spec.neurons_per_core.value
    if neurons > lim:
        raise MappingError(layer, "neurons per core", lim, neurons, "neurons",
                           "Split the layer across more cores or reduce its width.")


def rule_synaptic_memory(layer: str, entries: int, spec: CoreSpec) -> None:
    """Synapse entries on one core (weights, TASA replicas, rewritten attention operands) must fit
    ``spec.synaptic_memory_bytes`` at ``spec.synapse_bits`` bits per entry."""
    need = entries * spec.synapse_bits.value / 8
    lim = spec.synaptic_memory_bytes.value
    if need > lim:
        raise MappingError(layer, "synaptic memory per core", lim, need, "bytes",
                           "One neuron's (or one conv channel's) synapses must fit one core: reduce fan-in, "
                           "the TASA window (replicas) or the attention operand size.")


def rule_fan_in(layer: str, axons: int, spec: CoreSpec) -> None:
    """Distinct input axons arriving at one core must not exceed ``spec.fan_in_axons``."""
    lim = spec.fan_in_axons.value
    if axons > lim:
        raise MappingError(layer, "fan-in axons per core", lim, axons, "axons",
                           "Reduce the layer's input width (fan-in cannot be split across cores here).")


def rule_fan_out(layer: str, dest_cores: int, spec: CoreSpec) -> None:
    """Destination cores one core's neurons send to must not exceed ``spec.fan_out_cores``."""
    lim = spec.fan_out_cores.value
    if dest_cores > lim:
        raise MappingError(layer, "fan-out destination cores", lim, dest_cores, "cores",
                           "The consumer layer is spread over too many cores; shrink it.")


def rule_weight_bits(layer: str, bits: int, spec: CoreSpec) -> None:
    """Weight mantissas must fit ``spec.weight_bits``."""
    lim = spec.weight_bits.value
    if bits > lim:
        raise MappingError(layer, "weight bits", lim, bits, "bits",
                           "Quantize the weights to the chip's mantissa width (export/ quantizer).")


def chips_needed(cores: int, spec: CoreSpec) -> int:
    """The fewest chips of ``spec.cores_per_chip`` cores that hold ``cores`` cores (at least 1)."""
    return max(1, -(-cores // int(spec.cores_per_chip.value)))


def rule_chips(layer: str, cores: int, chips: int, spec: CoreSpec) -> None:
    """All ``cores`` cores must fit on ``chips`` chips of ``spec.cores_per_chip`` cores; the fix names
    the chips ``cores`` need (``chips_needed``), so checked with the model's total it is the answer."""
    lim = chips * spec.cores_per_chip.value
    if cores > lim:
        raise MappingError(layer, f"cores on {chips} chip(s)", lim, cores, "cores",
                           f"Use --chips {chips_needed(cores, spec)} (or --chips auto) or a smaller model.")

