"""DS2TA: a spiking vision transformer from PyTorch training to a Loihi-class chip.

Namespace: ``ds2ta`` (model, training, CLI), ``ds2ta.export`` (quantize, NIR),
``ds2ta.hardware`` (cores, mapping, energy), ``ds2ta.sims`` (integer reference, Lava).
"""

from ds2ta.version import __version__  # noqa: E402

from ds2ta.config import PRESETS, DS2TAConfig, make_config  # noqa: E402
from ds2ta.model import DS2TA  # noqa: E402

__all__ = ["DS2TA", "DS2TAConfig", "PRESETS", "make_config", "__version__"]
