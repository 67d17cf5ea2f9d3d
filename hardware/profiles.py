"""Energy profiles: every constant cites its source and evidence grade (M/S/V/D).

No per-operation energy has been published for Loihi 2, so the event model prices Loihi 2 events
with Loihi 1 costs (an upper bound: Loihi 2 is faster and on a smaller process) and adds the static
power Intel measured on Loihi 2.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .core import Cited

pJ = 1e-12
_DAVIES = "Davies et al., IEEE Micro 38(1) 2018, Table 2 (Loihi 1, 0.75 V)"
_SANAFE = "Boyle et al., SANA-FE, IEEE TCAD 2025: Loihi 1 costs fitted on Nahuku silicon (~12% error)"
_PILOTNET = "Intel PilotNet-LIF on Loihi 2 (lava-dl benchmark): static 0.232078 W on 74 cores"
_HOROWITZ = "Horowitz, ISSCC 2014 (45 nm), as used by spiking-transformer papers"
_NO_GRADED = "no Loihi 2 (or Loihi 1) energy per graded "


@dataclass(frozen=True)
class EventProfile:
    """Per-event energies of a Loihi-class core (joules).

    Attributes:
        name: Profile name.
        synop_dense: Energy of one synaptic op in a dense (unshared) connection.
        synop_conv: Energy of one synaptic op in a shared-kernel (conv) connection.
        neuron_update: Energy of one neuron update (inactive / base).
        neuron_active_extra: Extra energy when the neuron received input that step.
        spike_out: Energy to generate one output spike.
        message: Energy per spike message delivered to one destination core.
        hop_ew: Energy per east-west mesh hop of a message.
        hop_ns: Energy per north-south mesh hop of a message.
        attention_op: Energy of one spike x spike attention product (priced as a synaptic op).
        graded_synop: Energy of one synaptic event on a graded input (a lowered attention's sums and
            products: payload x weight).
        graded_message_out: Energy to emit one graded message (ProdNeuron / GradedVec output).
        graded_neuron_update: Energy of one update of a ProdNeuron / GradedVec.
    """

    name: str
    synop_dense: Cited
    synop_conv: Cited
    neuron_update: Cited
    neuron_active_extra: Cited
    spike_out: Cited
    message: Cited
    hop_ew: Cited
    hop_ns: Cited
    attention_op: Cited
    graded_synop: Cited
    graded_message_out: Cited
    graded_neuron_update: Cited

    def to_dict(self) -> dict:
        return {f.name: (getattr(self, f.name).to_dict() if f.name != "name" else self.name)
                for f in dataclasses.fields(self)}


SANAFE_LOIHI1 = EventProfile(
    name="Loihi 1 silicon-fitted (SANA-FE)",
    synop_dense=Cited(35.5 * pJ, "J", _SANAFE + ": dense synaptic op 35.5 pJ", "M"),
    synop_conv=Cited(24.0 * pJ, "J", _SANAFE + ": conv synaptic op 24.0 pJ", "M"),
    neuron_update=Cited(51.2 * pJ, "J", _SANAFE + ": neuron update 51.2 pJ", "M"),
    neuron_active_extra=Cited(21.6 * pJ, "J", _SANAFE + ": +21.6 pJ when updated with input", "M"),
    spike_out=Cited(69.3 * pJ, "J", _SANAFE + ": spike out 69.3 pJ", "M"),
    message=Cited(111.0 * pJ, "J", _SANAFE + ": axon message 111 pJ per destination core", "M"),
    hop_ew=Cited(3.0 * pJ, "J", _SANAFE + ": hop east-west 3.0 pJ", "M"),
    hop_ns=Cited(4.2 * pJ, "J", _SANAFE + ": hop north-south 4.2 pJ", "M"),
    attention_op=Cited(35.5 * pJ, "J", "priced as a dense synaptic op (attention core stores K/V as "
                       "synapses rewritten each step): " + _SANAFE, "D"),
    graded_synop=Cited(35.5 * pJ, "J", _NO_GRADED + "synaptic op; stands in: " + _SANAFE + ": dense "
                       "synaptic op 35.5 pJ", "D"),
    graded_message_out=Cited(69.3 * pJ, "J", _NO_GRADED + "message; stands in: " + _SANAFE + ": spike "
                             "out 69.3 pJ", "D"),
    graded_neuron_update=Cited(51.2 * pJ, "J", _NO_GRADED + "ProdNeuron/GradedVec update; stands in: "
                               + _SANAFE + ": neuron update 51.2 pJ", "D"),
)

TABLE2_LOIHI1 = EventProfile(
    name="Loihi 1 pre-silicon (Davies 2018 Table 2)",
    synop_dense=Cited(23.6 * pJ, "J", _DAVIES + ": synaptic spike op (min) 23.6 pJ", "S"),
    synop_conv=Cited(23.6 * pJ, "J", _DAVIES + ": synaptic spike op (min) 23.6 pJ", "S"),
    neuron_update=Cited(52.0 * pJ, "J", _DAVIES + ": neuron update inactive 52 pJ", "S"),
    neuron_active_extra=Cited(29.0 * pJ, "J", _DAVIES + ": neuron update active 81 pJ = 52 + 29", "S"),
    spike_out=Cited(0.0, "J", _DAVIES + ": spike generation is not listed separately", "S"),
    message=Cited(1.7 * pJ, "J", _DAVIES + ": spike within tile 1.7 pJ", "S"),
    hop_ew=Cited(3.0 * pJ, "J", _DAVIES + ": tile hop east-west 3.0 pJ", "S"),
    hop_ns=Cited(4.0 * pJ, "J", _DAVIES + ": tile hop north-south 4.0 pJ", "S"),
    attention_op=Cited(23.6 * pJ, "J", "priced as a synaptic op: " + _DAVIES, "D"),
    graded_synop=Cited(23.6 * pJ, "J", _NO_GRADED + "synaptic op; stands in: " + _DAVIES + ": synaptic "
                       "spike op (min) 23.6 pJ", "D"),
    graded_message_out=Cited(0.0, "J", _NO_GRADED + "message; stands in: " + _DAVIES + ": spike "
                             "generation not listed separately (0)", "D"),
    graded_neuron_update=Cited(52.0 * pJ, "J", _NO_GRADED + "ProdNeuron/GradedVec update; stands in: "
                               + _DAVIES + ": neuron update inactive 52 pJ", "D"),
)

STATIC_PER_CORE_W = Cited(0.232078 / 74, "W", _PILOTNET + " => 3.14 mW per used core", "D")
HOROWITZ_MAC = Cited(4.6 * pJ, "J", _HOROWITZ + ": 32-bit FP MAC 4.6 pJ (first layer, graded input)", "D")
HOROWITZ_AC = Cited(0.9 * pJ, "J", _HOROWITZ + ": 32-bit FP add 0.9 pJ per synaptic op", "D")
GPU_J_PER_FLOP = Cited(0.71 * pJ, "J", "H100 SXM peak bf16 ~990 TFLOP/s at 700 W => 0.71 pJ/FLOP; a lower "
                       "bound, never a measurement", "D")

PROFILES = {"sanafe": SANAFE_LOIHI1, "table2": TABLE2_LOIHI1}
