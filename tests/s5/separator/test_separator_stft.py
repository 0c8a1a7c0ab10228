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


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fft_path_equals_the_conv_path(dtype):
    """With canonical kernels both modules compute by FFT; the result equals the frozen-kernel
    convolutions (the official computation) to float32 rounding, in float32 and float64."""
    from espnet2_ext.s5.separator.stft import kernels_are_canonical

    stft, istft = STFT(1024, 160).to(dtype), ISTFT(1024, 160).to(dtype)
    assert kernels_are_canonical(stft, ("stft_real", "stft_imag"), 1024)
    assert kernels_are_canonical(istft, ("istft_real", "istft_imag"), 1024)
    x = torch.randn(2, 4, 16000, generator=torch.Generator().manual_seed(1), dtype=dtype)
    real, imag = stft(x)
    y = istft(real, imag, 16000)
    assert real.dtype == y.dtype == dtype
    for module in (stft, istft):             # trainable kernels: the convolution path
        module.conv_real.weight.requires_grad_(True)
    with torch.no_grad():
        conv_real, conv_imag = stft(x)
        conv_y = istft(real, imag, 16000)
    peak = float(conv_real.abs().max())
    assert float((real - conv_real).abs().max()) <= 1e-5 * peak
    assert float((imag - conv_imag).abs().max()) <= 1e-5 * peak
    assert float((y - conv_y).abs().max()) <= 1e-5 * float(conv_y.abs().max())


def test_changed_kernels_are_used_as_they_are():
    """A kernel that differs from the canonical one (here: changed in place after a first
    call) switches the module back to the convolution with that kernel."""
    stft = STFT(1024, 160)
    x = torch.randn(1, 8000, generator=torch.Generator().manual_seed(2))
    before, _ = stft(x)
    with torch.no_grad():
        stft.conv_real.weight[3] *= 2
    after, _ = stft(x)
    assert torch.allclose(after[..., 3], 2 * before[..., 3], rtol=1e-4, atol=1e-3)
    assert torch.allclose(after[..., 4], before[..., 4], rtol=1e-4, atol=1e-3)
    with torch.no_grad():
        stft.conv_real.weight[3] /= 2        # canonical again: back on the FFT path
    assert torch.allclose(stft(x)[0], before, atol=1e-6)


def test_training_after_a_decode_in_inference_mode():
    """The FFT path's cached window, first made inside torch.inference_mode (a decode), must not
    be an inference tensor: training in the same process needs it for backward."""
    from espnet2_ext.s5.separator.resunetk import ResUNet30

    model = ResUNet30(base_channels=4)
    mixture, query = torch.randn(1, 4, 4000), torch.zeros(1, 54)
    query[0, 0] = 1
    model.eval()
    with torch.inference_mode():
        model.separate(mixture, query)
    model.train()
    model.separate(mixture, query).sum().backward()
    assert model.base.pre_conv.weight.grad is not None
