"""The large presets' exported graphs map onto Loihi-2 cores with the token-pooling head.

Head layouts by hand (vendor limits: 4,096 axons, 65,536 entries, 8,192 neurons per core):
- head.pool_li (SumPool2d over the g x g grid of every residual source, one graded relay per channel):
  a channel's kernel has N x sources entries: cifar10/cifar100 64 x 10 = 640 -> 65,536 // 640 = 102
  channels per core -> ceil(384 / 102) = 4 cores; dvs 64 x 6 = 384 -> 170 per core -> ceil(256 / 170) = 2.
- head.readout: fan-in D (one synapse per channel), classes x D entries: cifar10 3,840, cifar100 38,400,
  dvs 2,816 -> 1 core each, no fan-in split (the per-token head needed 61 / 377-422 / 25 cores).
"""

import warnings

import pytest
import torch

pytestmark = pytest.mark.slow


def _graph(preset):
    from ds2ta.config import make_config
    from ds2ta.export.model_quant import quantize_model
    from ds2ta.model import DS2TA

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph, _, _ = quantize_model(DS2TA(make_config(preset)), 1 / 16, None)
    return graph


@pytest.mark.parametrize("preset,pool_cores", [("cifar10", 4), ("dvs", 2), ("cifar100", 4)])
def test_preset_maps_with_pooled_head(preset, pool_cores):
    from ds2ta.hardware import MappingError, check_fits

    g = _graph(preset)
    m = check_fits(g, chips=64, split_fan_in=False)  # no layer needs the fan-in split any more
    assert len(m.layer_cores("head.readout")) == 1 and len(m.layer_cores("head.pool_li")) == pool_cores
    assert m.merge_latency_steps == 0 and not m.splits
    need = -(-m.total_cores // 128)
    assert m.chips == need
    with pytest.raises(MappingError, match=f"--chips {need}"):
        check_fits(g, chips=need - 1)
