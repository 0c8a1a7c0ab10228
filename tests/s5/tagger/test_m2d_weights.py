"""M2D weight files: folder-name parse, validation, ViT size inference, feature layout."""
from __future__ import annotations

import shutil

import pytest
import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.tagger.m2d_backbone import PortableM2D
from espnet2_ext.s5.tagger.m2d_weights import (DEFAULT_NORM_STATS, OFFICIAL_DIR, parse_weight_folder_name,
                                               read_m2d_weight_file)

SR = 32000


def test_parse_official_folder_name():
    assert parse_weight_folder_name(OFFICIAL_DIR) == ((80, 1001), (16, 16), "32k")
    assert parse_weight_folder_name("m2d_vit_base-80x608p16x16-220930") == ((80, 608), (16, 16), "16k")


@pytest.mark.parametrize("name", ["weights", "m2d_as_vit_base", "m2d-80x1001-p32k"])
def test_wrong_folder_name_is_a_clear_error(tmp_path, tiny_weight_file, name):
    (tmp_path / name).mkdir()
    bad = tmp_path / name / tiny_weight_file.name
    shutil.copy(tiny_weight_file, bad)
    with pytest.raises(S5InputError, match="folder name"):
        read_m2d_weight_file(bad)


def test_folder_name_must_fit_the_weights(tmp_path, tiny_weight_file):
    folder = tmp_path / "m2d_vit_base-80x500p16x16p32k-x"        # 5 x 31 patches != 5 x 62
    folder.mkdir()
    shutil.copy(tiny_weight_file, folder / tiny_weight_file.name)
    with pytest.raises(S5InputError, match="pos_embed"):
        read_m2d_weight_file(folder / tiny_weight_file.name)


def test_wrong_content_is_a_clear_error(tmp_path):
    folder = tmp_path / OFFICIAL_DIR
    folder.mkdir()
    path = folder / "tagger.ckpt"
    torch.save({"state_dict": {"model.base.bn0.weight": torch.ones(513)}}, path)
    with pytest.raises(S5InputError, match="not an M2D weight file"):
        read_m2d_weight_file(path)
    with pytest.raises(S5InputError, match="not found"):
        read_m2d_weight_file(folder / "missing.pth")


def test_official_layout_and_size_inference(seeded_weight_file, tiny_weight_file):
    w = read_m2d_weight_file(seeded_weight_file)
    assert (w.embed_dim, w.depth, w.num_heads, w.mlp_ratio) == (768, 12, 12, 4.0)
    assert w.flat_features and w.evar_head_in == 768 and w.grid_size == (5, 62)
    assert set(w.head_norm) == {"running_mean", "running_var", "num_batches_tracked"}
    assert not any(k.startswith("module.") for k in w.backbone)
    assert w.norm_stats == (pytest.approx(-7.3), pytest.approx(4.6))
    tiny = read_m2d_weight_file(tiny_weight_file)
    assert (tiny.embed_dim, tiny.depth, tiny.num_heads) == (64, 2, 2)


def test_default_norm_stats_when_absent(tmp_path, tiny_weight_file):
    sd = torch.load(tiny_weight_file)
    del sd["module.ar.runtime.backbone.norm_stats"]
    folder = tmp_path / tiny_weight_file.parent.name
    folder.mkdir()
    torch.save(sd, folder / "w.pth")
    m2d = PortableM2D(folder / "w.pth")
    assert (m2d.norm_mean, m2d.norm_std) == pytest.approx(DEFAULT_NORM_STATS)


def test_flat_and_stacked_features(tiny_weight_file, tiny_stacked_weight_file):
    wav = torch.randn(2, SR * 10)                                # 1001 frames, one chunk
    flat, stacked = PortableM2D(tiny_weight_file).eval(), PortableM2D(tiny_stacked_weight_file).eval()
    assert flat.flat_features and flat.feature_d == 64
    assert not stacked.flat_features and stacked.feature_d == 5 * 64
    with torch.no_grad():
        assert tuple(flat.encode(wav).shape) == (2, 310, 64)
        lms = stacked.to_normalized_feature(wav)
        tokens = stacked.backbone(lms)[:, 1:]                  # [2, (5 62), 64]
        feats = stacked.encode_lms(lms)
    assert tuple(feats.shape) == (2, 62, 320)
    # stacked vector at time t = the 5 frequency patches of column t, low to high
    assert torch.equal(feats[:, 7, 64:128], tokens[:, 62 + 7])


def test_short_input_truncates_pos_embed(tiny_weight_file):
    m2d = PortableM2D(tiny_weight_file).eval()
    with torch.no_grad():
        feats = m2d.encode(torch.randn(1, SR * 2))              # 201 frames -> 13 patch columns
        lms = m2d.to_normalized_feature(torch.randn(1, SR * 2))
    assert tuple(feats.shape) == (1, 5 * 13, 64)
    with pytest.raises(S5InputError, match="too short"):
        m2d.encode_lms(lms[..., :10])


def test_long_input_is_chunked(tiny_weight_file):
    m2d = PortableM2D(tiny_weight_file).eval()
    lms = torch.randn(1, 1, 80, 1001 + 29)                      # 2nd chunk: 29 frames -> padded to 32
    with torch.no_grad():
        feats = m2d.encode_lms(lms)
        first = m2d.encode_lms(lms[..., :1001])
        second = m2d.encode_lms(torch.nn.functional.pad(lms[..., 1001:], (0, 3)))
    assert tuple(feats.shape) == (1, 5 * (62 + 2), 64)
    assert torch.equal(feats, torch.cat([first, second], dim=1))
