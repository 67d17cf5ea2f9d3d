"""Model configuration: one dataclass, named presets as small dicts.

The DS2TA paper publishes no code or sizes; every unknown is a field here and the defaults are the
reconstruction documented in docs/model.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional, Tuple

from ds2ta.encoding import ENCODINGS

ATTENTIONS = ("ds2ta", "spikformer", "statten", "sdsa")
BACKBONES = ("spikformer", "sdt")  # Spikformer (spike-count residual stream) | Spike-driven Transformer V1
SDSA_POOLS = ("official", "grid")  # DS2TAConfig.sdsa_pool
# Fields added after checkpoints were written, with the value those older checkpoints were trained with
# (new models get the dataclass default): DS2TAConfig.from_dict fills them in where a stored dict lacks them.
LEGACY_DEFAULTS = {"sdsa_pool": "grid"}
DEFAULT_ATTN_SCALE = 0.125  # DS2TA and Spikformer: s = 1/8 (a power of two keeps the chip's shift exact)


@dataclass
class DS2TAConfig:
    img_size: int = 32            # input height = width in pixels
    in_channels: int = 3          # 3 for RGB, 1 for digits, 2 for ON/OFF event frames
    num_classes: int = 10         # classifier outputs
    embed_dim: int = 384          # D, token width; SPS widths are D/8, D/4, D/2, D
    depth: int = 4                # number of encoder blocks
    heads: int = 12               # attention heads; d_head = D / heads
    mlp_ratio: int = 4            # MLP hidden width = mlp_ratio * D
    T: int = 4                    # time steps per sample (4 static, 10 DVS)
    pool_stages: str = "0011"     # SPS stage i is followed by maxpool(3,2,1) when char i is "1"
    encoding: str = "direct"      # "direct": image repeated T times; "events": (T, 2, H, W) frames
    attention: str = "ds2ta"      # "ds2ta" (TASA+NSAD) | "spikformer" (spatial SSA) | "statten" | "sdsa"
    backbone: str = "spikformer"  # "spikformer" | "sdt" (SDT-V1: membrane shortcut, input LIF per block)
    dvs_pool: Optional[bool] = None  # SDT on events: 3x3 max-pool of block input and Q/K/V, gated output
    sdsa_pool: str = "official"   # SDSA's pools of K*V and output with dvs_pool: "official" 3x3 over (flat
                                  # token n, head channel d) as STAtten's code; "grid" 3x3 over the token grid
    taw: int = 3                  # TASA temporal attention window (steps, incl. the current one)
    tau_init: float = 4.0         # TASA decay exponent initial value (paper: 4 in every layer)
    learn_tau: bool = True        # TASA tau trainable (kept positive through softplus)
    attenuation: str = "exp"      # TASA a_k(tau): "exp" exp(-k/tau) | "hyperbolic" 1/(1+k/tau)
    nsad: bool = True             # NSAD lookup table on the attention map (ds2ta only)
    attn_scale: Optional[float] = None  # s in Z = LIF(s * A V); None: 1/8, or STAtten's rule (statten_scale)
    attn_threshold: float = 0.5   # threshold of the attention-output LIF
    chunk: int = 2                # STAtten: time steps per spatio-temporal block (T % chunk == 0)
    lif_tau: float = 2.0          # LIF tau for every neuron (leak 1 - 1/tau, input gain 1/tau)
    v_threshold: float = 1.0      # LIF threshold everywhere except the attention output
    surrogate_alpha: float = 4.0  # sigmoid surrogate steepness
    input_mean: Optional[Tuple[float, ...]] = None  # per-channel mean of the input normalisation, or None
    input_std: Optional[Tuple[float, ...]] = None   # per-channel std: the model computes (x - mean) / std
    extra: dict = field(default_factory=dict)  # free-form notes carried into checkpoints

    def __post_init__(self) -> None:
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention={self.attention!r}: choose one of {ATTENTIONS}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding={self.encoding!r}: choose one of {ENCODINGS}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone={self.backbone!r}: choose one of {BACKBONES}")
        if self.dvs_pool is None:  # the official block pools on event data (its `dvs` flag)
            self.dvs_pool = self.backbone == "sdt" and self.encoding == "events"
        if self.dvs_pool and self.backbone != "sdt":
            raise ValueError("dvs_pool=True needs backbone='sdt': the pooling and gating act on the SDT "
                             "block's input spikes; the Spikformer block's input is a spike count")
        if self.embed_dim % self.heads:
            raise ValueError(f"embed_dim={self.embed_dim} is not divisible by heads={self.heads}")
        if self.sdsa_pool not in SDSA_POOLS:
            raise ValueError(f"sdsa_pool={self.sdsa_pool!r}: choose one of {SDSA_POOLS}")
        if self.embed_dim % 8:
            raise ValueError(f"embed_dim={self.embed_dim} must be a multiple of 8 (SPS widths D/8..D)")
        if len(self.pool_stages) != 4 or set(self.pool_stages) - {"0", "1"}:
            raise ValueError(f"pool_stages={self.pool_stages!r}: four characters of 0/1, e.g. '0011'")
        if self.img_size % (2 ** self.pool_stages.count("1")):
            raise ValueError(f"img_size={self.img_size} is not divisible by the pooling factor "
                             f"{2 ** self.pool_stages.count('1')} of pool_stages={self.pool_stages!r}")
        if self.taw < 1:
            raise ValueError(f"taw={self.taw} must be >= 1 (1 = spatial-only attention)")
        if self.attention == "statten" and self.T % self.chunk:
            raise ValueError(f"STAtten needs T % chunk == 0 (T={self.T}, chunk={self.chunk})")
        if self.tau_init <= 0:
            raise ValueError(f"tau_init={self.tau_init} must be positive")
        self.check_normalisation()
        if self.attn_scale is None:
            self.attn_scale = statten_scale(self) if self.attention == "statten" else DEFAULT_ATTN_SCALE
        if not self.attn_scale > 0:
            raise ValueError(f"attn_scale={self.attn_scale} must be positive")

    def check_normalisation(self) -> None:
        """``input_mean`` / ``input_std``: both or neither, one value per input channel, std > 0."""
        if (self.input_mean is None) != (self.input_std is None):
            raise ValueError("input normalisation needs both input_mean and input_std (or neither)")
        if self.input_mean is None:
            return
        self.input_mean = tuple(float(v) for v in self.input_mean)
        self.input_std = tuple(float(v) for v in self.input_std)
        for name, v in (("input_mean", self.input_mean), ("input_std", self.input_std)):
            if len(v) != self.in_channels:
                raise ValueError(f"{name} has {len(v)} values but the model has {self.in_channels} input "
                                 "channels: give one per channel")
        if not all(s > 0 for s in self.input_std):
            raise ValueError(f"input_std={list(self.input_std)}: every value must be positive")

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.heads

    @property
    def grid(self) -> int:
        """Token grid side after the patchifier."""
        return self.img_size // (2 ** self.pool_stages.count("1"))

    @property
    def num_tokens(self) -> int:
        return self.grid ** 2

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict, stored: bool = True) -> "DS2TAConfig":
        """A config from a dict of fields. ``stored``: ``d`` was written by this package, maybe an older
        version (a checkpoint's ``"config"``), so a field it lacks takes the value that version built
        (``LEGACY_DEFAULTS``); False (a new model): the dataclass default."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown DS2TAConfig fields {sorted(unknown)}: checkpoint from another "
                             "version or another model")
        return cls(**({**LEGACY_DEFAULTS, **d} if stored else d))


PRESETS: dict[str, dict] = {
    # Built-in 8x8 digits and tests: 16 tokens, one block.
    "tiny": dict(img_size=8, in_channels=1, num_classes=10, embed_dim=64, depth=1, heads=4,
                 mlp_ratio=4, T=4, pool_stages="0001"),
    # Event-stream variant of tiny (digits-events): 2-channel frames, T=10, STAtten chunk 5.
    "tiny-dvs": dict(img_size=16, in_channels=2, num_classes=10, embed_dim=64, depth=1, heads=4,
                     mlp_ratio=4, T=10, pool_stages="0011", encoding="events", chunk=5),
    "cifar10": dict(img_size=32, in_channels=3, num_classes=10, embed_dim=384, depth=4, heads=12,
                    T=4, pool_stages="0011"),
    "cifar100": dict(img_size=32, in_channels=3, num_classes=100, embed_dim=384, depth=4, heads=12,
                     T=4, pool_stages="0011"),
    # DVS Gesture / CIFAR10-DVS at 128x128 -> 8x8 tokens.
    "dvs": dict(img_size=128, in_channels=2, num_classes=11, embed_dim=256, depth=2, heads=16,
                T=10, pool_stages="1111", encoding="events", chunk=5),
    # STAtten as published (conf/cifar10/2_256_200E_t4.yml, 2_512_..., cifar10-dvs t10): SDT-V1 backbone.
    "statten-cifar10": dict(img_size=32, in_channels=3, num_classes=10, embed_dim=256, depth=2, heads=8,
                            T=4, chunk=2, pool_stages="0011", attention="statten", backbone="sdt"),
    "statten-cifar10-512": dict(img_size=32, in_channels=3, num_classes=10, embed_dim=512, depth=2,
                                heads=8, T=4, chunk=2, pool_stages="0011", attention="statten",
                                backbone="sdt"),
    # CIFAR10-DVS at 128 x 128 -> 8 x 8 tokens (SDT's pooling_stat "1111"), T 10 in blocks of 5.
    "statten-dvs": dict(img_size=128, in_channels=2, num_classes=10, embed_dim=256, depth=2, heads=8,
                        T=10, chunk=5, pool_stages="1111", encoding="events", attention="statten",
                        backbone="sdt"),
    # The official cifar10-dvs / ncaltech101 geometry (conf/cifar10-dvs/2_256_200E_t10_TET.yml, ..._t16_TET.yml):
    # frames resized to 64 x 64, pooling_stat "0011" -> 16 x 16 tokens, scale 1/(16 * 16 * chunk).
    "statten-dvs64": dict(img_size=64, in_channels=2, num_classes=10, embed_dim=256, depth=2, heads=8,
                          T=10, chunk=5, pool_stages="0011", encoding="events", attention="statten",
                          backbone="sdt"),
    "statten-dvs64-t16": dict(img_size=64, in_channels=2, num_classes=10, embed_dim=256, depth=2, heads=8,
                              T=16, chunk=4, pool_stages="0011", encoding="events", attention="statten",
                              backbone="sdt"),
}


def statten_scale(cfg: DS2TAConfig) -> float:
    """STAtten's scale on ``K_b^T V_b`` as its official code sets it (module/ms_conv.py): ``1 / H`` for
    static images and ``1 / (H * H * chunk)`` for event data, ``H`` the token-grid height (CIFAR: 1/8)."""
    H = cfg.grid
    return 1.0 / (H * H * cfg.chunk) if cfg.encoding == "events" else 1.0 / H


def make_config(preset: str = "tiny", **overrides) -> DS2TAConfig:
    """Build a config from a named preset with field overrides; unknown names raise ``ValueError``."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {sorted(PRESETS)}")
    return DS2TAConfig.from_dict({**PRESETS[preset], **overrides}, stored=False)
