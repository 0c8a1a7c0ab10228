"""Fixtures for the tagger tests: M2D weight files (seeded full-size, tiny fabricated)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from espnet2_ext.s5.tagger import fabricate_m2d_weight_file

TINY = dict(embed_dim=64, depth=2, num_heads=2)     # fast CPU ViT for behaviour tests


@pytest.fixture(scope="session")
def seeded(parity_dir):
    """The parity fixture's ``seeded`` module."""
    from parity import seeded as module
    return module


@pytest.fixture(scope="session")
def seeded_weight_file(tmp_path_factory, seeded) -> Path:
    """The parity M2D weight file (ViT-B, AS-FT layout) in the official folder name."""
    folder = tmp_path_factory.mktemp("m2d_seeded") / seeded.M2D_DIR
    folder.mkdir()
    path = folder / seeded.M2D_FILE
    torch.save(seeded.m2d_weight_state_dict(), path)
    return path


@pytest.fixture(scope="session")
def tiny_weight_file(tmp_path_factory) -> Path:
    """A tiny fabricated M2D weight file with the EVAR head (flat features)."""
    return fabricate_m2d_weight_file(tmp_path_factory.mktemp("m2d_tiny"), seed=0, **TINY)


@pytest.fixture(scope="session")
def tiny_stacked_weight_file(tmp_path_factory) -> Path:
    """A tiny fabricated M2D weight file without a head (stacked features)."""
    return fabricate_m2d_weight_file(tmp_path_factory.mktemp("m2d_tiny_stacked"), seed=1,
                                     with_head=False, **TINY)

