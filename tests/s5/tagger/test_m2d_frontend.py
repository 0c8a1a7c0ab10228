"""M2D log-mel frontend: the FFT path equals nnAudio's convolutions; changed kernels use them."""
import torch

from espnet2_ext.s5.tagger.m2d_frontend import LOG_EPS, M2dMelSpectrogram


def conv_magnitude(mel: M2dMelSpectrogram, wav: torch.Tensor) -> torch.Tensor:
    """|STFT| by the convolutions (nnAudio's op sequence), whatever the kernels hold: [B, F, frames]."""
    stft = mel.stft
    x = torch.nn.functional.pad(wav.unsqueeze(1), (stft.n_fft // 2, stft.n_fft // 2), mode="reflect")
    real = torch.nn.functional.conv1d(x, stft.wcos, stride=stft.hop_length)
    imag = torch.nn.functional.conv1d(x, stft.wsin, stride=stft.hop_length)
    return torch.sqrt(real ** 2 + imag ** 2)


def conv_mel(mel: M2dMelSpectrogram, wav: torch.Tensor) -> torch.Tensor:
    return torch.matmul(mel.mel_basis, conv_magnitude(mel, wav) ** 2)


def test_fft_path_equals_the_convolutions():
    mel = M2dMelSpectrogram()
    wav = torch.randn(3, 32000, generator=torch.Generator().manual_seed(0))
    wav[1] *= 1e-3                                                    # a quiet one too
    assert mel.stft.fft_applies(wav)
    fast, slow = mel(wav), conv_mel(mel, wav)
    assert fast.shape == slow.shape == (3, 80, 32000 // 320 + 1)
    log_fast, log_slow = (fast + LOG_EPS).log(), (slow + LOG_EPS).log()
    assert (log_fast - log_slow).abs().max() < 1e-4                 # the parity tolerance, in log-mel
    assert torch.allclose(mel.stft(wav), conv_magnitude(mel, wav), rtol=1e-4, atol=1e-5)


def test_changed_kernels_and_half_inputs_use_the_convolutions():
    mel = M2dMelSpectrogram()
    wav = torch.randn(2, 16000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        mel.stft.wsin.mul_(0.5)                                       # an in-place change: checked again
    assert not mel.stft.fft_applies(wav)
    assert torch.equal(mel(wav), conv_mel(mel, wav))
    mel.load_state_dict(M2dMelSpectrogram().state_dict())              # canonical again
    assert mel.stft.fft_applies(wav)
    assert not mel.stft.fft_applies(wav.half())
