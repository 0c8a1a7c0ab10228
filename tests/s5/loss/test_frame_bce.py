"""Frame BCE of the SED tagger (espnet2_ext.s5.loss.frame_bce)."""
import math

import pytest
import torch

from espnet2_ext.s5.loss.frame_bce import frame_bce


def test_frame_bce_is_the_mean_binary_cross_entropy_of_the_docstring():
    z = torch.tensor([[[0.0, 2.0], [-1.0, 3.0]]])
    y = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    sig = torch.sigmoid(z)
    expected = -(y * sig.log() + (1 - y) * (1 - sig).log()).mean()
    assert frame_bce(z, y).item() == pytest.approx(expected.item(), rel=1e-6)
    assert frame_bce(torch.zeros(1, 3, 18), torch.ones(1, 3, 18)).item() == pytest.approx(math.log(2), rel=1e-6)
    assert frame_bce(torch.full((1, 3, 18), 30.0), torch.ones(1, 3, 18)).item() < 1e-10


def test_frame_bce_rejects_mismatching_shapes():
    with pytest.raises(ValueError, match="differ"):
        frame_bce(torch.zeros(1, 4, 18), torch.zeros(1, 5, 18))
