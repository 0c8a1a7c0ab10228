"""The official M2D weight file: reading, validating and fabricating it.

The release file (``official.M2D_FOLDER/M2D_WEIGHTS``) is a flat dict of tensors. Backbone keys carry the
EVAR prefix ``module.ar.runtime.backbone.``; the AudioSet-fine-tuned (AS-FT) file
also carries the EVAR head ``module.head.norm.*`` and ``module.head.mlp.mlp.0.*``.
As in the official PortableM2D, the *folder name* gives the input size (``80x1001``),
the patch size (``p16x16``) and the sample rate (``p32k``).

The ViT size is read from tensor shapes (embed dim, depth, MLP width), so small ViTs
work too (CPU mini runs). The number of attention heads cannot be seen in the shapes:
it is ``embed_dim // 64`` (ViT convention: 12 for ViT-B) unless the file carries an
extra ``num_heads`` entry, as files made by :func:`fabricate_m2d_weight_file` do.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import write_torch
from espnet2_ext.s5.checkpoints import read_checkpoint, strip_prefix
from espnet2_ext.s5.official import M2D_FOLDER, M2D_WEIGHTS

BACKBONE_PREFIX = "module.ar.runtime.backbone."    # EVAR fine-tuned files
RUNTIME_PREFIX = "backbone."                         # RuntimeM2D / PortableM2D state dicts
EVAR_HEAD_NORM_PREFIX = "module.head.norm."
EVAR_HEAD_WEIGHT = "module.head.mlp.mlp.0.weight"
NUM_HEADS_KEY = "num_heads"                    # extra key written by fabricate_m2d_weight_file
DEFAULT_NORM_STATS = (-7.1, 4.2)               # PortableM2D default when the file has none

OFFICIAL_DIR = M2D_FOLDER      # the release folder name carries the input/patch sizes
OFFICIAL_FILE = M2D_WEIGHTS

_REQUIRED = ("cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias",
             "norm.weight", "norm.bias", "blocks.0.attn.qkv.weight", "blocks.0.mlp.fc1.weight")
_FOLDER_RE = re.compile(r"^[^-]+-(\d+)x(\d+)p(\d+)x(\d+)(?:p(\d+k))?")


@dataclass
class M2dWeights:
    """Content of an M2D weight file, ready to build and load a backbone.

    ``backbone`` holds the LocalViT tensors without prefix (incl. ``norm_stats`` [2]);
    ``head_norm`` the EVAR head BatchNorm stats (``running_mean``/``running_var``) or {}.
    """

    path: Path
    input_size: Tuple[int, int]        # (mel bins, frames per chunk), e.g. (80, 1001)
    patch_size: Tuple[int, int]        # (freq, time), e.g. (16, 16)
    sample_rate: str                   # "16k" or "32k"
    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float
    backbone: Dict[str, torch.Tensor]
    head_norm: Dict[str, torch.Tensor]
    evar_head_in: Optional[int]        # input size of the EVAR AudioSet head, if present

    @property
    def grid_size(self) -> Tuple[int, int]:
        """Patch grid (freq patches, time patches) of one full chunk, e.g. (5, 62)."""
        return (self.input_size[0] // self.patch_size[0], self.input_size[1] // self.patch_size[1])

    @property
    def flat_features(self) -> bool:
        """PortableM2D rule: an EVAR head as wide as the embedding -> flat [B, f*t, D] tokens."""
        return self.evar_head_in == self.embed_dim

    @property
    def norm_stats(self) -> Tuple[float, float]:
        """(mean, std) of the log-mel normalisation, as float32 values."""
        mean, std = self.backbone["norm_stats"].float().tolist()
        return mean, std


def parse_weight_folder_name(name: str) -> Tuple[Tuple[int, int], Tuple[int, int], str]:
    """``'m2d_as_vit_base-80x1001p16x16p32k-...'`` -> ((80, 1001), (16, 16), '32k').

    The sample-rate token is optional (PortableM2D defaults to '16k').
    """
    m = _FOLDER_RE.match(name)
    if m is None:
        raise S5InputError(
            f"cannot read the M2D input/patch size from the weight folder name {name!r}: "
            f"keep the release folder name, e.g. '{OFFICIAL_DIR}' "
            f"(<model>-<mels>x<frames>p<patch_f>x<patch_t>p<16k|32k>-...)")
    f, t, pf, pt, sr = m.groups()
    return (int(f), int(t)), (int(pf), int(pt)), sr or "16k"


def _infer_vit_size(sd: Dict[str, torch.Tensor]) -> Tuple[int, int, float]:
    """(embed_dim, depth, mlp_ratio) from the tensor shapes."""
    embed_dim = int(sd["pos_embed"].shape[-1])
    depth = 0
    while f"blocks.{depth}.attn.qkv.weight" in sd:
        depth += 1
    hidden = int(sd["blocks.0.mlp.fc1.weight"].shape[0])
    return embed_dim, depth, hidden / embed_dim


def read_m2d_weight_file(weight_file: Union[str, Path]) -> M2dWeights:
    """Read and validate an M2D weight file (S5InputError with the fix on bad input)."""
    path = Path(weight_file)
    input_size, patch_size, sr = parse_weight_folder_name(path.parent.name)
    if sr not in ("16k", "32k"):
        raise S5InputError(f"unknown sample rate token 'p{sr}' in the M2D weight folder name "
                           f"{path.parent.name!r}; expected p16k or p32k")
    ckpt = read_checkpoint(path)
    if not isinstance(ckpt, dict):
        raise S5InputError(f"{path} is not an M2D weight file (expected a dict of tensors)")
    ckpt = ckpt["model"] if "model" in ckpt else ckpt
    if any(k.startswith(RUNTIME_PREFIX) for k in ckpt):       # RuntimeM2D weights
        ckpt = {k[len(RUNTIME_PREFIX):]: v for k, v in ckpt.items() if k.startswith(RUNTIME_PREFIX)}
    sd = strip_prefix(ckpt, BACKBONE_PREFIX)
    missing = [k for k in _REQUIRED if k not in sd]
    if missing:
        raise S5InputError(
            f"{path} is not an M2D weight file: missing {', '.join(missing)}. Give the M2D "
            f"release weights ({OFFICIAL_DIR}/{OFFICIAL_FILE}), not a tagger or separator checkpoint")
    embed_dim, depth, mlp_ratio = _infer_vit_size(sd)
    n_patches = (input_size[0] // patch_size[0]) * (input_size[1] // patch_size[1])
    if tuple(sd["pos_embed"].shape) != (1, 1 + n_patches, embed_dim):
        raise S5InputError(
            f"{path}: pos_embed {tuple(sd['pos_embed'].shape)} does not fit the folder name "
            f"{path.parent.name!r} (input {input_size}, patch {patch_size} -> {1 + n_patches} "
            f"tokens); the folder name must be the one the weights were released with")
    if tuple(sd["patch_embed.proj.weight"].shape[-2:]) != patch_size:
        raise S5InputError(f"{path}: patch_embed kernel {tuple(sd['patch_embed.proj.weight'].shape)} "
                           f"does not match the patch size {patch_size} of the folder name")
    num_heads = int(ckpt[NUM_HEADS_KEY]) if NUM_HEADS_KEY in ckpt else max(embed_dim // 64, 1)
    backbone = {k: v for k, v in sd.items() if not k.startswith("module.") and k != NUM_HEADS_KEY}
    backbone.setdefault("norm_stats", torch.tensor(DEFAULT_NORM_STATS))
    head_norm = {k[len(EVAR_HEAD_NORM_PREFIX):]: v for k, v in ckpt.items()
                 if k.startswith(EVAR_HEAD_NORM_PREFIX)}
    head_in = int(ckpt[EVAR_HEAD_WEIGHT].shape[-1]) if EVAR_HEAD_WEIGHT in ckpt else None
    return M2dWeights(path, input_size, patch_size, sr, embed_dim, depth, num_heads, mlp_ratio,
                      backbone, head_norm, head_in)


# ---------------------------------------------------------------------------------------
# fabricated weight files (tests, CPU mini runs)
# ---------------------------------------------------------------------------------------
def fabricated_state_dict(embed_dim: int = 768, depth: int = 12, num_heads: int = 12,
                          seed: int = 0, with_head: bool = True,
                          input_size: Tuple[int, int] = (80, 1001),
                          patch_size: Tuple[int, int] = (16, 16),
                          n_evar_classes: int = 527) -> Dict[str, torch.Tensor]:
    """A random weight-file dict in the official (EVAR AS-FT) layout.

    Matrices and embeddings ~ N(0, 0.02), biases 0, LayerNorm weights 1,
    ``norm_stats`` = the PortableM2D default. ``num_heads`` is stored as an extra entry.
    """
    g = torch.Generator().manual_seed(seed)
    d, hidden = embed_dim, 4 * embed_dim
    n_tokens = 1 + (input_size[0] // patch_size[0]) * (input_size[1] // patch_size[1])

    def randn(*shape):
        return torch.randn(*shape, generator=g) * 0.02

    sd = {"cls_token": randn(1, 1, d), "pos_embed": randn(1, n_tokens, d),
          "norm_stats": torch.tensor(DEFAULT_NORM_STATS),
          "patch_embed.proj.weight": randn(d, 1, *patch_size), "patch_embed.proj.bias": torch.zeros(d)}
    for i in range(depth):
        b = f"blocks.{i}."
        for name, (n_out, n_in) in {"attn.qkv": (3 * d, d), "attn.proj": (d, d),
                                    "mlp.fc1": (hidden, d), "mlp.fc2": (d, hidden)}.items():
            sd[b + name + ".weight"] = randn(n_out, n_in)
            sd[b + name + ".bias"] = torch.zeros(n_out)
        for norm in ("norm1", "norm2"):
            sd[b + norm + ".weight"], sd[b + norm + ".bias"] = torch.ones(d), torch.zeros(d)
    sd["norm.weight"], sd["norm.bias"] = torch.ones(d), torch.zeros(d)
    out = {BACKBONE_PREFIX + k: v for k, v in sd.items()}
    if with_head:
        out[EVAR_HEAD_NORM_PREFIX + "running_mean"] = torch.zeros(d)
        out[EVAR_HEAD_NORM_PREFIX + "running_var"] = torch.ones(d)
        out[EVAR_HEAD_NORM_PREFIX + "num_batches_tracked"] = torch.tensor(0)
        out[EVAR_HEAD_WEIGHT] = randn(n_evar_classes, d)
        out["module.head.mlp.mlp.0.bias"] = torch.zeros(n_evar_classes)
    out[NUM_HEADS_KEY] = torch.tensor(num_heads)
    return out


def fabricate_m2d_weight_file(directory: Union[str, Path], embed_dim: int = 768, depth: int = 12,
                              num_heads: int = 12, seed: int = 0, with_head: bool = True,
                              input_size: Tuple[int, int] = (80, 1001),
                              patch_size: Tuple[int, int] = (16, 16),
                              sample_rate: str = "32k") -> Path:
    """Write a random M2D weight file under ``directory`` and return its path.

    The folder is named like the release (``OFFICIAL_DIR`` for the official sizes,
    ``m2d_vit_e{D}d{depth}h{heads}-80x1001p16x16p32k-fabricated`` otherwise) so that the
    official folder-name parse applies. A tiny ViT (e.g. 64/2/2) makes CPU training fast.
    """
    official = (embed_dim, depth, num_heads, tuple(input_size), tuple(patch_size), sample_rate) == \
        (768, 12, 12, (80, 1001), (16, 16), "32k")
    sizes = f"{input_size[0]}x{input_size[1]}p{patch_size[0]}x{patch_size[1]}p{sample_rate}"
    folder = OFFICIAL_DIR if official else f"m2d_vit_e{embed_dim}d{depth}h{num_heads}-{sizes}-fabricated"
    out_dir = Path(directory) / folder
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / OFFICIAL_FILE
    sd = fabricated_state_dict(embed_dim, depth, num_heads, seed, with_head, input_size, patch_size)
    write_torch(path, sd)
    return path
