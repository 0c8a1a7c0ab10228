"""ResUNet30 ("ResUNetK"): the label-queried separator of the DCASE2026 Task 4 baseline.

A complex-mask U-Net on the STFT of the 4-channel mixture (n_fft 1024, hop 160). A label
query [B, 54] (3 slots x 18-class one-hots, silence = all zeros) is embedded into one
condition vector [B, 512] that biases every BatchNorm of the U-Net (FiLM beta). For each
of the 3 slots and each input channel the U-Net predicts a magnitude mask and a phase
rotation; a 1x1 conv (``out_conv``) mixes the 4 masked channel spectra into one, and the
ISTFT gives the slot's waveform. Slots whose query is silent are zeroed.

Official calling convention (the baseline's values up to float rounding, ~1e-6)::

    model({"mixture": x [B, 4, L], "label_vector": lv [B, 54]})
        -> {"waveform": [B, 3, 1, L], "source_mask": [B, 3]}

Module and parameter names equal the official checkpoint keys without ``model.``, so
:func:`load_official_separator` loads ``resunetk.ckpt`` strictly. ``base_channels``
scales every U-Net width (32 = official; e.g. 8 for small test configs).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.s5.checkpoints import find_prefix, load_strict, read_checkpoint, state_dict_of, strip_prefix
from espnet2_ext.s5.devices import at_least_float32
from espnet2_ext.s5.separator.resunet_blocks import (
    BN_MOMENTUM, DecoderBlockRes1B, EncoderBlockRes1B, FiLM, FilmBetas, film_meta, init_layer,
)
from espnet2_ext.s5.separator.stft import ISTFT, STFT

AbsSeparator = quiet_import("espnet2.enh.separator.abs_separator").AbsSeparator

N_FFT = 1024
HOP_LENGTH = 160
CONDITION_SIZE = 512
N_MASK_COMPONENTS = 3      # K: magnitude mask, phase-mask real part, phase-mask imaginary part

# U-Net layout: (name, in width, out width) in units of base_channels, (time, freq) pool/upsample
ENCODER = (
    ("encoder_block1", 1, 1, (2, 2)),
    ("encoder_block2", 1, 2, (2, 2)),
    ("encoder_block3", 2, 4, (2, 2)),
    ("encoder_block4", 4, 8, (2, 2)),
    ("encoder_block5", 8, 12, (2, 2)),
    ("encoder_block6", 12, 12, (1, 2)),
)
CENTER = ("conv_block7a", 12, 12, (1, 1))
DECODER = (
    ("decoder_block1", 12, 12, (1, 2)),
    ("decoder_block2", 12, 12, (2, 2)),
    ("decoder_block3", 12, 8, (2, 2)),
    ("decoder_block4", 8, 4, (2, 2)),
    ("decoder_block5", 4, 2, (2, 2)),
    ("decoder_block6", 2, 1, (2, 2)),
)


def source_mask_of(label_vector: torch.Tensor, n_slots: int) -> torch.Tensor:
    """[B, n_slots * C] query -> [B, n_slots]: 1 where the slot's one-hot is non-zero."""
    slots = label_vector.reshape(label_vector.shape[0], n_slots, -1)
    return (slots.abs().sum(-1) > 0).to(label_vector.dtype)


class ResUNet30Base(nn.Module):
    """The FiLM-conditioned complex-mask U-Net with its STFT/ISTFT.

    mixture [B, C, L] + betas -> waveform [B, S, O, L] (S slots, O output channels)."""

    def __init__(self, input_channels: int = 4, output_channels: int = 1,
                 target_sources_num: int = 3, base_channels: int = 32):
        super().__init__()
        self.input_channels = input_channels
        self.output_channels = output_channels
        self.target_sources_num = target_sources_num
        self.time_downsample_ratio = math.prod(pool[0] for *_, pool in ENCODER)   # 32

        self.stft = STFT(N_FFT, HOP_LENGTH)
        self.istft = ISTFT(N_FFT, HOP_LENGTH)
        self.bn0 = nn.BatchNorm2d(N_FFT // 2 + 1, momentum=BN_MOMENTUM)
        self.pre_conv = nn.Conv2d(input_channels, base_channels, 1)
        for name, c_in, c_out, pool in ENCODER + (CENTER,):
            self.add_module(name, EncoderBlockRes1B(c_in * base_channels, c_out * base_channels, pool))
        for name, c_in, c_out, up in DECODER:
            self.add_module(name, DecoderBlockRes1B(c_in * base_channels, c_out * base_channels, up))
        n_masks = target_sources_num * input_channels * N_MASK_COMPONENTS
        self.after_conv = nn.Conv2d(base_channels, n_masks, 1)
        self.out_conv = nn.Conv2d(input_channels, output_channels, 1)
        init_layer(self.pre_conv)
        init_layer(self.after_conv)

    def spectrum(self, mixture: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """mixture [B, C, L] -> magnitude, real and imaginary part of the STFT, each [B, C, T, F].

        The magnitude is ``sqrt(max(re^2 + im^2, 1e-10))``, as officially."""
        real, imag = self.stft(mixture)
        mag = torch.clamp(real ** 2 + imag ** 2, min=1e-10) ** 0.5
        return mag, real, imag

    def unet(self, mag: torch.Tensor, film: FilmBetas) -> torch.Tensor:
        """mag [B, C, T, F] -> mask logits [B, S * C * K, T, F - 1].

        The official U-Net pads its output with a zero column for the Nyquist bin; that bin's
        masked spectrum is a constant (see :meth:`masked_spectra`), so it is left out here."""
        n_frames = mag.shape[2]
        x = self.bn0(mag.transpose(1, 3)).transpose(1, 3)          # BN over frequency bins
        pad = -n_frames % self.time_downsample_ratio
        x = F.pad(x, (0, 0, 0, pad))[..., :-1]                     # T -> multiple of 32, F 513 -> 512
        if not self.training:      # channels-last convolutions: ~25% faster inference on CPU
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.pre_conv(x)
        skips = []
        for name, *_ in ENCODER:
            x, skip = getattr(self, name)(x, film[name])
            skips.append(skip)
        x, _ = self.conv_block7a(x, film[CENTER[0]])
        for (name, *_), skip in zip(DECODER, reversed(skips)):
            x = getattr(self, name)(x, skip, film[name])
        # after_conv is 1x1: cutting the padded frames before it computes the same values for
        # fewer frames, and the cut's backward zero-fills base_channels, not S*C*K, channels
        x = x[:, :, :n_frames, :]
        if not self.training:      # NCHW logits: the mask decoding's elementwise passes vectorise (~40% faster)
            x = x.contiguous()
        return self.after_conv(x)                  # [T, 512]: Nyquist logits are 0 (see masked_spectra)

    def masked_spectra(self, logits: torch.Tensor, real: torch.Tensor, imag: torch.Tensor
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Apply per-slot, per-channel complex masks and mix the channels with out_conv.

        logits [B, S*C*K, T, F - 1] (no Nyquist bin), mixture STFT real/imag [B, C, T, F]
        -> (real, imag) [B, S, O, T, F].

        Officially |Y| = relu(|X| sigmoid(k0)) and angle Y = angle X + angle(tanh k1 + i tanh k2).
        As |X| > 0 and sigmoid >= 0 the relu is the identity, so with t = tanh k1 + i tanh k2
        and g = sigmoid(k0) / max(|t|, 1e-10):  Y = g * X * t  (same values up to float
        rounding, computed in fewer passes over these large tensors).

        The official logits of the Nyquist bin are a zero pad, so there t = 0 and Y = 0
        exactly, and the mixed spectrum is ``out_conv``'s bias: that bin is not computed,
        only padded (with the bias) after the channel mix. The components are taken with
        ``unbind`` (whose backward stacks the three gradients in one pass; slicing would
        zero-fill a full-size gradient per component).
        """
        b, _, n_frames, n_bins = logits.shape
        s, c = self.target_sources_num, self.input_channels
        k_mag, k_real, k_imag = logits.reshape(b, s, c, N_MASK_COMPONENTS, n_frames, n_bins).unbind(3)
        t_real, t_imag = torch.tanh(k_real), torch.tanh(k_imag)
        real, imag = real[:, None, :, :, :n_bins], imag[:, None, :, :, :n_bins]   # [B, 1, C, T, F - 1]
        if not (torch.is_grad_enabled() and any(t.requires_grad for t in (logits, real, imag))):
            # no autograd (decoding): the same products in place, Y = X * (g t), ~30% faster
            gain = torch.sigmoid(k_mag).div_(torch.hypot(t_real, t_imag).clamp_(min=1e-10))
            t_real.mul_(gain)
            t_imag.mul_(gain)
            out_real = torch.mul(real, t_real).addcmul_(imag, t_imag, value=-1)
            out_imag = torch.mul(imag, t_real).addcmul_(real, t_imag)
            return self.mix_channels(out_real), self.mix_channels(out_imag)
        gain = torch.sigmoid(k_mag) / torch.hypot(t_real, t_imag).clamp(min=1e-10)
        out_real = torch.addcmul(real * t_real, imag, t_imag, value=-1) * gain
        out_imag = torch.addcmul(imag * t_real, real, t_imag) * gain
        return self.mix_channels(out_real), self.mix_channels(out_imag)

    def mix_channels(self, spec: torch.Tensor) -> torch.Tensor:
        """``out_conv`` (1x1 conv, C -> O, with bias) over the channel axis, then the Nyquist bin
        (masked spectrum 0, so the bias alone): [B, S, C, T, F - 1] -> [B, S, O, T, F].

        Written as an einsum with the conv's own weights: same values, several times faster
        on CPU than a 4 -> 1 channel Conv2d call on these long spectrograms (and ~20% faster,
        forward + backward, than a batched ``matmul`` that avoids the einsum's permuted copy)."""
        weight = self.out_conv.weight[:, :, 0, 0]                  # [O, C]
        return F.pad(torch.einsum("oc,bsctf->bsotf", weight, spec), (0, 1)) + self.out_conv.bias[:, None, None]

    def forward(self, mixture: torch.Tensor, film: FilmBetas) -> torch.Tensor:
        """mixture [B, C, L], betas -> waveform [B, S, O, L] (silent slots not yet zeroed).

        Under autocast only the U-Net runs in reduced precision: the STFT, the magnitude
        (whose ``clamp(min=1e-10)`` underflows to 0 in float16, giving inf x 0 = NaN at the
        silent Nyquist bin), the masking and the ISTFT always run in float32 (or float64 when
        the model does)."""
        with torch.autocast(mixture.device.type, enabled=False):
            mag, real, imag = self.spectrum(at_least_float32(mixture))
        logits = self.unet(mag, film)
        with torch.autocast(mixture.device.type, enabled=False):
            real, imag = self.masked_spectra(at_least_float32(logits), real, imag)
            return self.istft(real, imag, mixture.shape[-1])


class ResUNet30(AbsSeparator):
    """Label-queried ResUNet30 separator (official key names; see module docstring).

    Args:
        input_channels: mixture channels (4).
        output_channels: channels per separated source (1).
        target_sources_num: number of query slots S (3).
        label_len: query length, S x classes (54).
        base_channels: U-Net width unit; widths are (1, 2, 4, 8, 12, 12) x base_channels
            (32 -> 32, 64, 128, 256, 384, 384 = official).
    """

    def __init__(self, input_channels: int = 4, output_channels: int = 1, target_sources_num: int = 3,
                 label_len: int = 54, base_channels: int = 32):
        super().__init__()
        if label_len % target_sources_num:
            raise ValueError(f"label_len {label_len} is not a multiple of target_sources_num {target_sources_num}")
        self.input_channels = input_channels
        self.target_sources_num = target_sources_num
        self.label_len = label_len
        self.base = ResUNet30Base(self.unet_input_channels(input_channels, output_channels, target_sources_num),
                                  output_channels, target_sources_num, base_channels)
        self.label_embedding = nn.Sequential(
            nn.Linear(label_len, CONDITION_SIZE), nn.LayerNorm(CONDITION_SIZE), nn.ReLU(),
            nn.Linear(CONDITION_SIZE, CONDITION_SIZE), nn.LayerNorm(CONDITION_SIZE), nn.ReLU(),
        )
        self.film = FiLM(film_meta(self.base), CONDITION_SIZE)
        self.freeze_unused_parameters()

    def freeze_unused_parameters(self) -> None:
        """Mark the parameters that never reach the output as not trainable.

        Each decoder block's ``bn2`` and its FiLM ``beta2`` layer (24 tensors) exist only
        because the official checkpoint stores them; they never receive a gradient, so
        AdamW always skipped them. Freezing them changes no trained value, keeps them in
        the checkpoint under the official keys, and lets DDP run without
        ``find_unused_parameters`` (which would otherwise stop at the second step)."""
        for name, *_ in DECODER:
            getattr(self.base, name).bn2.requires_grad_(False)
            self.film[f"{name}->beta2"].requires_grad_(False)

    @staticmethod
    def unet_input_channels(input_channels: int, output_channels: int, target_sources_num: int) -> int:
        """Channels the U-Net sees (and masks): the mixture's. Subclasses may feed it more."""
        return input_channels

    @property
    def num_spk(self) -> int:
        return self.target_sources_num

    def check_inputs(self, mixture: torch.Tensor, label_vector: torch.Tensor) -> None:
        """ValueError unless mixture is [B, input_channels, L] and label_vector [B, label_len]."""
        if mixture.dim() != 3 or mixture.shape[1] != self.input_channels:
            raise ValueError(f"mixture must be [B, {self.input_channels}, L], got {tuple(mixture.shape)}")
        if label_vector.shape != (mixture.shape[0], self.label_len):
            raise ValueError(f"label_vector must be [{mixture.shape[0]}, {self.label_len}], "
                             f"got {tuple(label_vector.shape)}")

    def separate_with_mask(self, mixture: torch.Tensor, label_vector: torch.Tensor
                           ) -> Tuple[torch.Tensor, torch.Tensor]:
        """mixture [B, C, L], label_vector [B, label_len] -> (waveform [B, S, O, L], source_mask [B, S]).

        Silent slots (all-zero sub-vector) are exactly zero."""
        self.check_inputs(mixture, label_vector)
        source_mask = source_mask_of(label_vector, self.target_sources_num)
        waveform = self.base(mixture, self.film(self.label_embedding(label_vector)))
        return waveform * source_mask[:, :, None, None], source_mask

    def separate(self, mixture: torch.Tensor, label_vector: torch.Tensor) -> torch.Tensor:
        """mixture [B, C, L], label_vector [B, label_len] -> waveform [B, S, O, L]."""
        return self.separate_with_mask(mixture, label_vector)[0]

    def forward(self, input: Union[Mapping[str, torch.Tensor], torch.Tensor],
                ilens: Optional[torch.Tensor] = None, additional: Optional[Dict] = None):
        """Two calling conventions, chosen by the type of ``input``:

        * official: ``forward({"mixture": [B, C, L], "label_vector": [B, label_len]})``
          -> ``{"waveform": [B, S, O, L], "source_mask": [B, S]}``;
        * espnet2 ``AbsSeparator`` (with a null encoder/decoder): ``forward(mixture [B, L, C]
          (or [B, L] when C = 1), ilens [B], {"label_vector": [B, label_len]})`` ->
          (S tensors [B, L] (output channel 0), ilens, OrderedDict(source_mask=[B, S])).
        """
        if isinstance(input, Mapping):
            waveform, source_mask = self.separate_with_mask(input["mixture"], input["label_vector"])
            return {"waveform": waveform, "source_mask": source_mask}
        if not additional or "label_vector" not in additional:
            raise ValueError("ResUNet30 needs additional={'label_vector': [B, label_len]}")
        mixture = input[..., None] if input.dim() == 2 else input
        waveform, source_mask = self.separate_with_mask(mixture.transpose(1, 2), additional["label_vector"])
        sources: List[torch.Tensor] = list(waveform[:, :, 0].unbind(1))
        return sources, ilens, OrderedDict(source_mask=source_mask)


def load_official_separator(ckpt_path: Union[str, Path], ckpt: Optional[dict] = None,
                            **kwargs) -> ResUNet30:
    """Build ResUNet30(**kwargs) and load an official Lightning checkpoint strictly (eval mode).

    Accepts ``{"state_dict": {"model.<key>": ...}}`` (``resunetk.ckpt``) or a plain state
    dict under any prefix. Raises S5InputError listing missing/unexpected keys when the file
    is not a matching separator checkpoint (e.g. a tagger checkpoint). ``ckpt``: the file's
    contents if the caller has already read it."""
    model = ResUNet30(**kwargs)
    sd = state_dict_of(ckpt if ckpt is not None else read_checkpoint(ckpt_path), str(ckpt_path))
    prefix = find_prefix(sd, model.state_dict().keys()) or "model."
    load_strict(model, strip_prefix(sd, prefix), source=str(ckpt_path),
                expected="an official ResUNetK separator checkpoint (resunetk.ckpt)")
    return model.eval()
