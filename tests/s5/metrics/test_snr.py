"""SNR helper: torchmetrics formula (no zero-mean, dtype eps) and pairwise layout."""
import math

import torch

from espnet2_ext.s5.metrics import pairwise_snr, snr


def test_formula_and_eps():
    ref = torch.tensor([[1.0, -2.0, 3.0]])
    est = torch.tensor([[1.5, -2.0, 2.0]])
    eps = torch.finfo(torch.float32).eps
    expected = 10 * math.log10((14 + eps) / (1.25 + eps))
    assert abs(snr(est, ref).item() - expected) < 1e-5
    # no zero-mean: a DC offset is an error
    assert snr(ref + 1.0, ref).item() < snr(ref + 0.1, ref).item()
    # perfect estimate of silence: eps/eps = 0 dB; perfect estimate: finite and huge
    assert snr(torch.zeros(1, 5), torch.zeros(1, 5)).item() == 0.0
    assert 60 < snr(ref, ref).item() < math.inf


def test_pairwise_layout():
    g = torch.Generator().manual_seed(0)
    est, ref = torch.randn(2, 100, generator=g), torch.randn(3, 100, generator=g)
    m = pairwise_snr(est, ref)
    assert m.shape == (3, 2)
    for i in range(3):
        for j in range(2):
            assert torch.allclose(m[i, j], snr(est[j], ref[i]))
