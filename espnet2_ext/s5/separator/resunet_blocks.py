"""Building blocks of the ResUNet30 separator (bytedance/uss ResUNet, FiLM as a bias).

Every BatchNorm of the U-Net gets a condition-dependent bias beta [B, C, 1, 1] that is
added after the BatchNorm and before the LeakyReLU (no multiplicative gamma). Blocks
declare which betas they need in ``film_features`` ({name: channels}); :func:`film_meta`
collects them into a nested dict that mirrors the module tree, and :class:`FiLM` holds
one ``Linear(condition -> channels)`` per beta, named by its module path joined with
``->`` (the official checkpoint key layout, e.g. ``encoder_block1->conv_block1->beta1``).
Tensors are [B, C, time, freq] throughout.
"""
from __future__ import annotations

from typing import Dict, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

BN_MOMENTUM = 0.01
LEAKY_SLOPE = 0.01

# nested {child name: ... {beta name: beta [B, C, 1, 1]}} as returned by FiLM.forward
FilmBetas = Dict[str, Union[torch.Tensor, "FilmBetas"]]


def init_layer(layer: nn.Module) -> None:
    """Xavier-uniform weight and zero bias (the official initialisation)."""
    nn.init.xavier_uniform_(layer.weight)
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)


def bn_act(bn: nn.BatchNorm2d, x: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """LeakyReLU(BN(x) + beta): the FiLM-conditioned pre-activation.

    In eval mode the BatchNorm is folded into one multiply-add with beta
    (``x * scale + (shift + beta)``) and the activation runs in place: two passes over
    ``x`` instead of three, same values up to float rounding (~1e-7 relative).
    """
    if bn.training or bn.running_mean is None:
        # in place on BN's fresh output (its backward needs x, not the output): the same
        # three passes, without allocating two more full-size tensors
        y = bn(x)
        y += beta
        return F.leaky_relu_(y, negative_slope=LEAKY_SLOPE)
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)            # [C]
    shift = bn.bias - bn.running_mean * scale
    y = torch.addcmul(shift[:, None, None] + beta, x, scale[:, None, None])
    return F.leaky_relu_(y, negative_slope=LEAKY_SLOPE)


class ConvBlockRes(nn.Module):
    """Pre-activation residual block: two 3x3 convs, 1x1 conv shortcut when widths differ.

    x [B, in, T, F] -> [B, out, T, F]."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels, momentum=BN_MOMENTUM)
        self.bn2 = nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        self.film_features = {"beta1": in_channels, "beta2": out_channels}
        for layer in (self.conv1, self.conv2, self.shortcut):
            if layer is not None:
                init_layer(layer)

    def forward(self, x: torch.Tensor, film: FilmBetas) -> torch.Tensor:
        h = self.conv1(bn_act(self.bn1, x, film["beta1"]))
        h = self.conv2(bn_act(self.bn2, h, film["beta2"]))
        return h + (self.shortcut(x) if self.shortcut is not None else x)


class EncoderBlockRes1B(nn.Module):
    """ConvBlockRes followed by average pooling by ``downsample`` = (time, freq).

    x [B, in, T, F] -> (pooled [B, out, T/dt, F/df], pre-pool skip [B, out, T, F])."""

    def __init__(self, in_channels: int, out_channels: int, downsample: Tuple[int, int]):
        super().__init__()
        self.conv_block1 = ConvBlockRes(in_channels, out_channels)
        self.downsample = tuple(downsample)

    def forward(self, x: torch.Tensor, film: FilmBetas) -> Tuple[torch.Tensor, torch.Tensor]:
        skip = self.conv_block1(x, film["conv_block1"])
        return F.avg_pool2d(skip, kernel_size=self.downsample), skip


class DecoderBlockRes1B(nn.Module):
    """Transposed-conv upsampling of LeakyReLU(BN(x) + beta1), concat the skip, ConvBlockRes.

    x [B, in, T, F], skip [B, out, T*ut, F*uf] -> [B, out, T*ut, F*uf].
    ``bn2`` (and its beta2) is never used in forward; it exists because the official
    checkpoint stores it."""

    def __init__(self, in_channels: int, out_channels: int, upsample: Tuple[int, int]):
        super().__init__()
        self.conv1 = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=upsample,
                                        stride=upsample, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels, momentum=BN_MOMENTUM)
        self.conv_block2 = ConvBlockRes(2 * out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(in_channels, momentum=BN_MOMENTUM)
        self.film_features = {"beta1": in_channels, "beta2": in_channels}
        init_layer(self.conv1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor, film: FilmBetas) -> torch.Tensor:
        up = self.conv1(bn_act(self.bn1, x, film["beta1"]))
        return self.conv_block2(torch.cat((up, skip), dim=1), film["conv_block2"])


def film_meta(module: nn.Module) -> dict:
    """Nested {child name: ... {beta name: channels}} for every block with ``film_features``,
    in module order (a block's own betas first, then its children's)."""
    meta = dict(getattr(module, "film_features", {}))
    for name, child in module.named_children():
        child_meta = film_meta(child)
        if child_meta:
            meta[name] = child_meta
    return meta


class FiLM(nn.ModuleDict):
    """One Linear(condition_size -> C) per beta; ``forward`` gives the nested betas.

    Layer names are the module paths joined with ``->`` (the official key names)."""

    def __init__(self, meta: dict, condition_size: int):
        super().__init__()
        for path, channels in self._leaves(meta, ()):
            layer = nn.Linear(condition_size, channels)
            init_layer(layer)
            self["->".join(path)] = layer

    @classmethod
    def _leaves(cls, meta: dict, path: tuple):
        for name, value in meta.items():
            if isinstance(value, dict):
                yield from cls._leaves(value, path + (name,))
            else:
                yield path + (name,), value

    def forward(self, condition: torch.Tensor) -> FilmBetas:
        """condition [B, condition_size] -> nested {.. {beta name: [B, C, 1, 1]}}."""
        betas: dict = {}
        for name, layer in self.items():
            *parents, leaf = name.split("->")
            node = betas
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = layer(condition)[:, :, None, None]
        return betas
