"""Loihi-2-class neuro-core limits, each with its source and evidence grade.

Grades (docs/hardware.md, "Core limits"): M measured on silicon, S pre-silicon
simulation, V vendor claim, D derived by arithmetic here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

GRADES = ("M", "S", "V", "D")


@dataclass(frozen=True)
class Cited:
    """One number with its unit, source and evidence grade."""

    value: float
    unit: str
    source: str
    grade: str

    def __post_init__(self) -> None:
        if self.grade not in GRADES:
            raise ValueError(f"grade={self.grade!r}: use one of {GRADES} (measured/simulated/vendor/derived)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_BRIEF = "Intel Loihi 2 brief (2021)"
_DAVIES = "Davies et al., IEEE Micro 38(1) 2018, Loihi 1"
_PILOTNET = "lava-dl PilotNet-LIF benchmark on Loihi 2 (Oheo Gulch), data/pilotnet_lif/README.md"


@dataclass(frozen=True)
class CoreSpec:
    """Resource limits of one neuro core and of the chip that holds it.

    Attributes:
        name: Human-readable name of the description.
        neurons_per_core: Maximum compartments (neurons) per core.
        synaptic_memory_bytes: Synaptic memory per core for weights (incl. TASA replicas and any
            attention operand memory rewritten every step).
        synapse_bits: Bits one stored synapse entry occupies (weight + index/format overhead).
        fan_in_axons: Distinct input axons one core can receive.
        fan_out_cores: Distinct destination cores one core's neurons may send to.
        weight_bits: Weight mantissa width.
        state_bits: Membrane/current state width (saturating / wrapping).
        cores_per_chip: Neuro cores per chip.
        cores_per_router: Cores that share one mesh router (tile).
        mesh_cols: Routers per mesh row (the mesh is mesh_cols x rows).
        synop_time_s: Time of one synaptic op (Loihi 1 time divided by Loihi 2's speed-up).
        neuron_update_time_s: Time of one neuron update (same derivation).
        barrier_time_s: Mesh barrier synchronisation at the end of each time step.
        measured_step_s: Wall time per step Intel measured for PilotNet-LIF (includes host I/O).
    """

    name: str = "Loihi 2 (vendor limits)"
    neurons_per_core: Cited = Cited(8192, "neurons", _BRIEF + ": up to 8,192 neurons per core", "V")
    synaptic_memory_bytes: Cited = Cited(128 * 1024, "bytes", _BRIEF + ": up to 128 KB synaptic memory per core", "V")
    synapse_bits: Cited = Cited(16, "bits", "8-bit weight + 6-bit delay + 2 format bits per entry; no public "
                                "Loihi 2 synapse encoding (assumption)", "D")
    fan_in_axons: Cited = Cited(4096, "axons", _DAVIES + ": 4,096 fan-in axons per core (Loihi 2 unpublished)", "V")
    fan_out_cores: Cited = Cited(4096, "cores", _DAVIES + ": 4,096 fan-out axons per core (Loihi 2 unpublished)", "V")
    weight_bits: Cited = Cited(8, "bits", "Lava Dense/Conv: 8-bit weight mantissa + per-layer exponent", "V")
    state_bits: Cited = Cited(24, "bits", "Lava PyLifModelBitAcc: u wraps, v saturates at 24 bits", "V")
    cores_per_chip: Cited = Cited(128, "cores", _BRIEF + ": 128 neuro cores per chip", "V")
    cores_per_router: Cited = Cited(4, "cores", _DAVIES + ": 4 cores per mesh router tile", "S")
    mesh_cols: Cited = Cited(8, "routers", _DAVIES + ": 128 cores as an 8 x 4 tile mesh", "S")
    synop_time_s: Cited = Cited(3.5e-9 / 5, "s", _DAVIES + " Table 2: 3.5 ns per synaptic op; Loihi 2 5x faster (brief)", "D")
    neuron_update_time_s: Cited = Cited(8.4e-9 / 2, "s", _DAVIES + " Table 2: 8.4 ns active neuron update (recalled, "
                                        "not in the project reference sheet); Loihi 2 2x faster (brief)", "D")
    barrier_time_s: Cited = Cited(465e-9, "s", _DAVIES + " Table 2: mesh barrier 113-465 ns (upper end)", "S")
    measured_step_s: Cited = Cited(1.0 / 408.91 / 16, "s", _PILOTNET + ": 408.91 inferences/s at 16 steps", "D")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Cited) and v.value <= 0:
                raise ValueError(f"CoreSpec.{f.name}={v.value} must be positive")

    def replace(self, **limits: float) -> "CoreSpec":
        """Copy with some limit values changed (grade D, source 'user override')."""
        changes = {}
        for key, val in limits.items():
            if key == "name":
                changes[key] = val
                continue
            old = getattr(self, key, None)
            if not isinstance(old, Cited):
                raise ValueError(f"CoreSpec has no limit {key!r}; choose from {self.limit_names()}")
            changes[key] = Cited(val, old.unit, f"user override (was {old.value} from: {old.source})", "D")
        return dataclasses.replace(self, **changes)

    @classmethod
    def limit_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name != "name"]

    @property
    def synapses_per_core(self) -> int:
        """Synapse entries that fit in one core's synaptic memory."""
        return int(self.synaptic_memory_bytes.value * 8 // self.synapse_bits.value)

    def to_dict(self) -> dict:
        out = {"name": self.name}
        for n in self.limit_names():
            out[n] = getattr(self, n).to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "CoreSpec":
        """The spec ``to_dict`` wrote (``mapping.json``'s ``"spec"``); every limit must be present.

        Raises:
            ValueError: A limit is missing or unknown (names them: rewrite the mapping with this version).
        """
        names = cls.limit_names()
        missing = [n for n in names if n not in d]
        unknown = sorted(set(d) - set(names) - {"name"})
        if missing or unknown:
            raise ValueError(f"core spec {d.get('name')!r}: missing limits {missing}, unknown {unknown}; "
                             "write the mapping again (ds2ta-export) with this version")
        return cls(name=d.get("name", cls.name), **{n: Cited(**d[n]) for n in names})


def spec_of(mapping) -> CoreSpec:
    """The core description a mapping was made for: ``Mapping.spec``, or ``mapping.json``'s ``"spec"``.

    Raises:
        ValueError: A mapping dict without ``"spec"``.
    """
    if isinstance(mapping, dict):
        if "spec" not in mapping:
            raise ValueError("the mapping has no 'spec' (core description): write it with write_mapping_json")
        return CoreSpec.from_dict(mapping["spec"])
    return mapping.spec


LOIHI2 = CoreSpec()
