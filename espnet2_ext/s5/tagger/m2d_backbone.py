"""M2D audio encoder: log-mel frontend + ViT, equal to the official ``PortableM2D``.

``M2dViT`` is the ViT of M2D (timm blocks; ``LocalViT`` in the official code) and
``PortableM2D`` builds it from an M2D weight file together with the log-mel frontend.

Encoder output for a 10 s, 32 kHz clip (1001 frames, one chunk):
  * flat features (AS-FT weight file, the DCASE2026 baseline): [B, 310, 768]
    (5 freq x 62 time patches in ``(f t)`` order, cls token dropped)
  * stacked features (files without an EVAR head): [B, 62, 3840] (freq patches stacked)
Longer inputs are cut into 1001-frame chunks whose tokens are concatenated.
"""
from __future__ import annotations

import logging
import math
from functools import partial
from pathlib import Path
from typing import Tuple, Union

import torch
from timm.models.vision_transformer import Block
from torch import nn

from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.tagger.m2d_frontend import MEL_CONFIGS, M2dMelSpectrogram, log_mel
from espnet2_ext.s5.tagger.m2d_weights import DEFAULT_NORM_STATS, M2dWeights, read_m2d_weight_file

logger = logging.getLogger(__name__)


class PatchEmbed(nn.Module):
    """Non-overlapping patches: [B, 1, F, T] -> tokens [B, (F/pf)*(T/pt), D] in ``(f t)`` order."""

    def __init__(self, patch_size: Tuple[int, int], embed_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(1, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class M2dViT(nn.Module):
    """The M2D ViT encoder (pre-norm timm blocks, LayerNorm eps 1e-6, cls token, no head).

    ``norm_stats`` ([mean, std] of the log-mel) is a frozen parameter, as in the
    official LocalViT, so that it travels with the weights.
    """

    def __init__(self, input_size: Tuple[int, int] = (80, 1001), patch_size: Tuple[int, int] = (16, 16),
                 embed_dim: int = 768, depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0):
        super().__init__()
        self.patch_size = tuple(patch_size)
        self.grid_size = (input_size[0] // patch_size[0], input_size[1] // patch_size[1])
        n_patches = self.grid_size[0] * self.grid_size[1]
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + n_patches, embed_dim))
        self.norm_stats = nn.Parameter(torch.tensor(DEFAULT_NORM_STATS), requires_grad=False)
        self.patch_embed = PatchEmbed(self.patch_size, embed_dim)
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        self.blocks = nn.ModuleList([
            Block(embed_dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=True, norm_layer=norm_layer)
            for _ in range(depth)])
        self.norm = norm_layer(embed_dim)

    @property
    def embed_dim(self) -> int:
        return self.pos_embed.shape[-1]

    def forward(self, lms: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel chunk [B, 1, F, T<=unit] -> tokens [B, 1 + f*t, D] (cls first)."""
        x = self.patch_embed(lms)
        pos_embed = self.pos_embed[:, 1:, :]
        if x.shape[1] < pos_embed.shape[1]:                 # shorter input: keep the first t columns
            f = self.grid_size[0]
            t = x.shape[1] // f
            pos_embed = pos_embed.reshape(1, f, -1, self.embed_dim)[:, :, :t, :].reshape(1, f * t, -1)
        x = x + pos_embed
        cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class PortableM2D(nn.Module):
    """Frontend + M2D ViT built from an M2D weight file (official ``PortableM2D``).

    Attributes used by the taggers: ``backbone`` (M2dViT), ``head_norm`` (EVAR head
    BatchNorm, kept only so that official checkpoints load; unused in forward),
    ``to_spec`` (log-mel frontend), ``feature_d`` (size of one encoder feature vector).
    The log-mel normalisation uses the weight file's ``norm_stats`` read here, as the
    official code does (not the value later loaded into ``backbone.norm_stats``).
    """

    def __init__(self, weight_file: Union[str, Path]):
        super().__init__()
        w = read_m2d_weight_file(weight_file)
        self.weight_file = str(weight_file)
        self.input_size, self.patch_size = w.input_size, w.patch_size
        self.flat_features = w.flat_features
        self.feature_d = w.embed_dim * (1 if self.flat_features else w.grid_size[0])
        self.norm_mean, self.norm_std = w.norm_stats
        with torch.device("meta"):          # no random init: every tensor comes from the file
            self.backbone = M2dViT(w.input_size, w.patch_size, w.embed_dim, w.depth, w.num_heads, w.mlp_ratio)
        self._load_backbone(w)
        self.head_norm = nn.BatchNorm1d(self.feature_d, affine=False)
        self._load_head_norm(w)
        self.to_spec = M2dMelSpectrogram(MEL_CONFIGS[w.sample_rate])
        logger.info("M2D %s: ViT dim %d depth %d heads %d, %s features (%d), norm_stats %.4f %.4f",
                    w.path, w.embed_dim, w.depth, w.num_heads,
                    "flat" if self.flat_features else "stacked", self.feature_d, self.norm_mean, self.norm_std)

    def _load_backbone(self, w: M2dWeights) -> None:
        """Official rule: keep the file's tensors that are model parameters, then load strictly."""
        params = dict(self.backbone.named_parameters())
        sd = {k: v for k, v in w.backbone.items() if k in params}
        bad = [k for k in params if k not in sd or tuple(sd[k].shape) != tuple(params[k].shape)]
        if bad:
            raise S5InputError(f"{w.path}: M2D weights missing or of the wrong shape: "
                               f"{', '.join(bad[:8])}{' ...' if len(bad) > 8 else ''}")
        self.backbone.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True, assign=True)

    def _load_head_norm(self, w: M2dWeights) -> None:
        """Copy the EVAR head BatchNorm statistics when the file has them (AS-FT files)."""
        for name in ("running_mean", "running_var"):
            if name in w.head_norm and w.head_norm[name].shape == getattr(self.head_norm, name).shape:
                getattr(self.head_norm, name).copy_(w.head_norm[name])

    # -- features ---------------------------------------------------------------------
    def to_normalized_feature(self, wav: torch.Tensor) -> torch.Tensor:
        """Waveform [B, T] -> normalised log-mel [B, 1, n_mels, frames].

        Always float32, also under autocast: the squared STFT magnitudes overflow float16."""
        with torch.autocast(wav.device.type, enabled=False):
            x = log_mel(self.to_spec(wav.float()))
            return (x - self.norm_mean) / self.norm_std

    def encode_lms(self, lms: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel [B, 1, F, frames] -> features [B, tokens, feature_d].

        Chunks of ``input_size[1]`` frames; the remainder of the last chunk is right-padded
        to whole patches; per chunk the cls token is dropped and, for stacked features,
        the frequency patches are stacked per time step (``b (f t) d -> b t (f d)``).
        """
        unit, patch_t = self.input_size[1], self.patch_size[1]
        frames = lms.shape[-1]
        if frames < patch_t:
            raise S5InputError(f"audio too short for M2D: {frames} frames < {patch_t} (one patch)")
        pad = (patch_t - frames % unit % patch_t) % patch_t
        lms = nn.functional.pad(lms, (0, pad))
        f = self.backbone.grid_size[0]
        chunks = []
        for i in range(math.ceil(frames / unit)):
            tokens = self.backbone(lms[..., i * unit:(i + 1) * unit])[:, 1:, :]    # [B, f*t, D]
            if not self.flat_features:
                b, n, d = tokens.shape
                tokens = tokens.reshape(b, f, n // f, d).transpose(1, 2).reshape(b, n // f, f * d)
            chunks.append(tokens)
        return torch.cat(chunks, dim=-2)

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """Waveform [B, T] -> encoder features [B, tokens, feature_d]."""
        return self.encode_lms(self.to_normalized_feature(wav))
