"""M2D audio taggers of the DCASE2026 Task 4 baseline: 3 label slots per mixture.

* :class:`M2dAt`        (config ``m2dat_1c``): one reference channel -> M2D -> slot head.
* :class:`M2dAtSpatial` (config ``m2dat_4c``): every channel through the *shared* M2D
  encoder (one batched call), features concatenated per token, then the slot head.

Both return logits [B, n_slots=3, n_classes=19] (index 18 = silence); ``predict``
applies softmax + argmax per slot (no threshold). State-dict keys equal the official
Lightning checkpoints' keys without the ``model.`` prefix, so those load strictly.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Optional, Union

import torch
from torch import nn

from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.checkpoints import find_prefix, load_strict, read_checkpoint, state_dict_of, strip_prefix
from espnet2_ext.s5.labels import NUM_CLASSES, slots_from_logits
from espnet2_ext.s5.official import M2D_WEIGHT_PATH, N_CHANNELS, N_SLOTS, TAGGER_VARIANTS, tagger_variant
from espnet2_ext.s5.tagger.m2d_backbone import PortableM2D


class HeadAvgLinear(nn.Module):
    """Slot head: time mean -> BN (no affine) -> Linear+LN+ReLU -> one MLP per slot.

    [B, tokens, d_in] -> logits [B, num_outputs, num_classes]. With ``track_hidden_dim``
    None each slot is a single Linear.
    """

    def __init__(self, d_in: int, num_outputs: int, num_classes: int,
                 track_input_dim: int = 1024, track_hidden_dim: Optional[int] = 512):
        super().__init__()
        self.num_outputs, self.track_input_dim = num_outputs, track_input_dim
        self.m2d_out_norm = nn.BatchNorm1d(d_in, eps=1e-5, momentum=0.1, affine=False)
        self.linear = nn.Sequential(nn.Linear(d_in, track_input_dim * num_outputs),
                                    nn.LayerNorm(track_input_dim * num_outputs), nn.ReLU())

        def track() -> nn.Module:
            if track_hidden_dim is None:
                return nn.Linear(track_input_dim, num_classes)
            return nn.Sequential(nn.Linear(track_input_dim, track_hidden_dim), nn.LayerNorm(track_hidden_dim),
                                 nn.ReLU(), nn.Linear(track_hidden_dim, num_classes))
        self.tracks = nn.ModuleList([track() for _ in range(num_outputs)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(self.m2d_out_norm(x.mean(1)))
        x = x.view(x.shape[0], self.num_outputs, self.track_input_dim)
        return torch.stack([t(x[:, i]) for i, t in enumerate(self.tracks)], dim=1)


# ---------------------------------------------------------------------------------------
# fine-tuning (freezing) rule
# ---------------------------------------------------------------------------------------
def finetuning_start_index(mode: str, depth: int) -> int:
    """First trainable index in the official module list (see :func:`set_finetuning_layers`).

    'head' -> depth+9 (21 for ViT-B), 'backbone_out' -> depth+6 (18), 'N_blocks' -> depth+6-N
    (2_blocks -> 16), 'all' -> 0.
    """
    fixed = {"head": depth + 9, "backbone_out": depth + 6, "all": 0}
    if mode in fixed:
        return fixed[mode]
    m = re.fullmatch(r"(\d+)_blocks", mode)
    if m and 1 <= int(m.group(1)) <= depth:
        return depth + 6 - int(m.group(1))
    raise S5InputError(f"finetuning_layers={mode!r}: use 'head', 'backbone_out', 'all' or "
                       f"'N_blocks' with 1 <= N <= {depth} (the ViT depth)")


def set_finetuning_layers(m2d: PortableM2D, mode: str, head: Optional[nn.Module] = None) -> None:
    """Set ``requires_grad`` like the official M2dAt.

    Official module list: 0 cls_token, 1 pos_embed, 2 patch_embed, 3-5 pos_drop/patch_drop/
    norm_pre (no parameters), 6.. blocks, then norm, fc_norm, head_drop (no parameters),
    head_norm, head. Entries with index >= start train, the rest are frozen.
    ``backbone.norm_stats`` is not in the list and stays frozen.
    """
    vit = m2d.backbone
    no_params = None
    order = [vit.cls_token, vit.pos_embed, vit.patch_embed, no_params, no_params, no_params,
             *vit.blocks, vit.norm, no_params, no_params, m2d.head_norm, head]
    start = finetuning_start_index(mode, len(vit.blocks))
    for i, item in enumerate(order):
        params = [item] if isinstance(item, nn.Parameter) else (
            list(item.parameters()) if item is not None else [])
        for p in params:
            p.requires_grad_(i >= start)


# ---------------------------------------------------------------------------------------
# taggers
# ---------------------------------------------------------------------------------------
class SlotPredictMixin:
    """``predict(waveform)`` for a tagger whose forward returns slot logits."""

    @torch.no_grad()
    def predict(self, waveform: torch.Tensor) -> Dict[str, object]:
        """Waveform -> dict of :func:`slots_from_logits` (run in eval mode by the caller)."""
        return slots_from_logits(self(waveform))


class M2dAt(SlotPredictMixin, PortableM2D):
    """1-channel tagger (``m2dat_1c``): channel ``ref_channel`` -> M2D -> HeadAvgLinear.

    forward: waveform [B, T] or [B, C, T] -> logits [B, num_outputs, num_classes].
    """

    def __init__(self, weight_file: Union[str, Path] = M2D_WEIGHT_PATH, num_classes: int = NUM_CLASSES + 1,
                 num_outputs: int = N_SLOTS, ref_channel: Optional[int] = 0, finetuning_layers: str = "head",
                 head_args: Optional[dict] = None):
        super().__init__(weight_file)
        self.num_classes, self.num_outputs, self.ref_channel = num_classes, num_outputs, ref_channel
        self.head = HeadAvgLinear(self.feature_d, num_outputs, num_classes, **(head_args or {}))
        self.set_finetuning_layers(finetuning_layers)

    def set_finetuning_layers(self, mode: str) -> None:
        """Freeze everything before ``mode`` (see :func:`set_finetuning_layers`)."""
        set_finetuning_layers(self, mode, self.head)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if waveform.dim() == 3:
            if self.ref_channel is None:
                raise ValueError("M2dAt got multichannel input [B, C, T] but ref_channel is None")
            waveform = waveform[:, self.ref_channel]
        return self.head(self.encode(waveform))


class M2dAtSpatial(SlotPredictMixin, nn.Module):
    """Multichannel tagger (``m2dat_4c``): shared M2D encoder, per-token channel concat.

    forward: waveform [B, nchan, T] -> encoder on [B*nchan, T] (one call) ->
    [B, nchan, N, D] -> [B, N, nchan*D] (channel-major per token) -> logits [B, S, C].
    The slot head is always trainable; ``finetuning_layers`` applies to the encoder.
    """

    def __init__(self, weight_file: Union[str, Path] = M2D_WEIGHT_PATH, num_classes: int = NUM_CLASSES + 1,
                 num_outputs: int = N_SLOTS, nchan: int = N_CHANNELS, finetuning_layers: str = "head", head_args: Optional[dict] = None):
        super().__init__()
        self.num_classes, self.num_outputs, self.nchan = num_classes, num_outputs, nchan
        self.m2d = PortableM2D(weight_file)
        self.head = HeadAvgLinear(nchan * self.m2d.feature_d, num_outputs, num_classes, **(head_args or {}))
        self.set_finetuning_layers(finetuning_layers)

    def set_finetuning_layers(self, mode: str) -> None:
        """Freeze the shared encoder up to ``mode``; the head always trains."""
        set_finetuning_layers(self.m2d, mode, head=None)
        self.head.requires_grad_(True)

    def channel_features(self, waveform: torch.Tensor) -> torch.Tensor:
        """[B, nchan, T] -> per-token concatenated channel features [B, N, nchan*D]."""
        if waveform.dim() != 3 or waveform.shape[1] != self.nchan:
            raise ValueError(f"M2dAtSpatial expects [B, {self.nchan}, T], got {tuple(waveform.shape)}")
        b, c, t = waveform.shape
        x = self.m2d.encode(waveform.reshape(b * c, t))                  # [B*C, N, D]
        n, d = x.shape[1:]
        return x.view(b, c, n, d).permute(0, 2, 1, 3).reshape(b, n, c * d)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.head(self.channel_features(waveform))


# ---------------------------------------------------------------------------------------
# official checkpoints
# ---------------------------------------------------------------------------------------
VARIANTS = dict(zip(TAGGER_VARIANTS, (M2dAt, M2dAtSpatial)))   # '1c', '4c'


def load_official_tagger(ckpt_path: Union[str, Path], weight_file: Union[str, Path],
                         variant: str, ckpt: Optional[dict] = None) -> nn.Module:
    """Build the official tagger (``variant`` '1c'/'4c' or 'm2d_at_1c'/'m2d_at_4c') from the
    M2D weight file and load an official Lightning checkpoint (``m2dat_1c.ckpt`` /
    ``m2dat_4c.ckpt``, keys ``model.<key>``) strictly. Returns the model in eval mode on CPU.
    ``ckpt``: the file's contents if the caller has already read it.
    """
    key = tagger_variant(variant)
    if key is None:
        raise S5InputError(f"unknown tagger variant {variant!r}: use one of {', '.join(TAGGER_VARIANTS)}")
    model = VARIANTS[key](weight_file)
    sd = state_dict_of(ckpt if ckpt is not None else read_checkpoint(ckpt_path), str(ckpt_path))
    sd = strip_prefix(sd, find_prefix(sd, model.state_dict().keys()))
    load_strict(model, sd, str(ckpt_path), expected=f"an official m2dat_{key} tagger checkpoint")
    return model.eval()

