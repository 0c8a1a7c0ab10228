"""The torchlibrosa-equivalent STFT/ISTFT: frozen kernels equal the official buffers."""
import hashlib

import numpy as np
import pytest
import torch

from espnet2_ext.s5.separator.stft import ISTFT, STFT


@pytest.fixture(scope="module")
def stft_pair():
    return STFT(1024, 160), ISTFT(1024, 160)


def test_fixed_buffers_equal_official(stft_pair):
    from parity.seeded import load_expected

    stft, istft = stft_pair
    ours = {f"model.base.stft.{k}": v for k, v in stft.state_dict().items()}
    ours.update({f"model.base.istft.{k}": v for k, v in istft.state_dict().items()})
    expected = load_expected("fixed_buffers.json")["files"]["resunet30_ckpt"]
    assert set(ours) == set(expected)
    for key, exp in expected.items():
        a = ours[key].numpy()
        assert str(a.dtype) == exp["dtype"] and list(a.shape) == exp["shape"], key
        assert float(a.astype(np.float64).sum()) == pytest.approx(exp["sum"], rel=1e-6, abs=1e-6), key
        assert float(np.abs(a.astype(np.float64)).sum()) == pytest.approx(exp["abs_sum"], rel=1e-6), key
        assert hashlib.sha256(np.ascontiguousarray(a).astype("<f4").tobytes()).hexdigest() == exp["sha256"], key


def test_kernels_are_frozen_parameters_and_window_a_buffer(stft_pair):
    stft, istft = stft_pair
    params = dict(stft.named_parameters()) | {f"i.{k}": v for k, v in istft.named_parameters()}
    assert sorted(params) == ["conv_imag.weight", "conv_real.weight", "i.conv_imag.weight", "i.conv_real.weight"]
    assert not any(p.requires_grad for p in params.values())
    assert "ola_window" in dict(istft.named_buffers())


def test_stft_matches_torch_stft_and_round_trips(stft_pair):
    stft, istft = stft_pair
    x = torch.randn(2, 3, 8000, generator=torch.Generator().manual_seed(0))
    real, imag = stft(x)
    assert real.shape == imag.shape == (2, 3, 8000 // 160 + 1, 513)
    ref = torch.stft(x.reshape(6, -1).double(), 1024, 160, window=torch.hann_window(1024, dtype=torch.float64),
                     center=True, pad_mode="reflect", return_complex=True).transpose(1, 2).reshape(2, 3, -1, 513)
    assert torch.allclose(real.double(), ref.real, atol=2e-4)
    assert torch.allclose(imag.double(), ref.imag, atol=2e-4)
    y = istft(real, imag, 8000)
    assert y.shape == x.shape
    assert (y - x).abs().max() < 1e-4
