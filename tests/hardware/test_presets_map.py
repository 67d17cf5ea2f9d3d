"""The large presets' exported graphs map onto Loihi-2 cores once the head's fan-in is split.

Head layouts by hand (vendor limits: 4,096 axons, 65,536 entries of 16 bits per core):
- cifar10: fan-in 384 x 64 tokens x 10 residual sources = 245,760 = 60 x 4,096 -> 60 groups;
  10 outputs x 4,096 = 40,960 entries fit one core per group -> 60 partial + 1 merge = 61 cores.
- dvs: 256 x 64 x 6 = 98,304 = 24 x 4,096; 11 x 4,096 fit one core -> 24 + 1 = 25 cores.
- cifar100: 100 outputs x 245,760 entries need >= ceil(24,576,000 / 65,536) = 375 partial cores;
  the 60-group layout would take 60 x ceil(100 / 16) + 2 = 422: the mapper must land in between.
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


@pytest.mark.parametrize("preset,head_cores", [("cifar10", (61, 61)), ("dvs", (25, 25)), ("cifar100", (377, 422))])
def test_preset_maps_with_split_head(preset, head_cores):
    from ds2ta.hardware import MappingError, check_fits

    g = _graph(preset)
    with pytest.raises(MappingError, match="head.readout"):
        check_fits(g, chips=64, split_fan_in=False)
    m = check_fits(g, chips=64)
    head = m.layer_cores("head.readout")
    assert head_cores[0] <= len(head) <= head_cores[1]
    assert m.merge_latency_steps == 1 and list(m.splits) == ["head.readout"]
    need = -(-m.total_cores // 128)
    assert m.chips == need
    with pytest.raises(MappingError, match=f"--chips {need}"):
        check_fits(g, chips=need - 1)
