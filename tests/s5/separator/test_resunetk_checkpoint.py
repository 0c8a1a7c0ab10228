"""load_official_separator: official Lightning checkpoints in, clear errors for wrong files."""
import pytest
import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.separator import ResUNet30, load_official_separator


def test_official_checkpoint_round_trip(tmp_path, seeded_resunet_state):
    from parity import seeded

    path = tmp_path / "resunetk.ckpt"
    torch.save(seeded.lightning_checkpoint(seeded_resunet_state), path)
    model = load_official_separator(path)
    assert isinstance(model, ResUNet30) and not model.training
    loaded = model.state_dict()
    assert len(loaded) == len(seeded_resunet_state) == 342
    for key, value in seeded_resunet_state.items():
        assert torch.equal(loaded[key[len("model."):]], value), key


def test_tagger_checkpoint_is_rejected_with_key_lists(tmp_path):
    from parity import seeded

    # the tagger's key layout (scalar placeholders: only the names matter here)
    sd = {k: torch.zeros(()) for k, _, _, _ in seeded.read_keys("m2dat_1c_ckpt")}
    path = tmp_path / "m2dat_1c.ckpt"
    torch.save(seeded.lightning_checkpoint(sd), path)
    with pytest.raises(S5InputError) as err:
        load_official_separator(path)
    msg = str(err.value)
    assert str(path) in msg and "ResUNetK" in msg
    assert "missing keys: base.stft.conv_real.weight" in msg and "(342 in all)" in msg
    assert "unexpected keys: backbone." in msg and "(183 in all)" in msg


def test_width_mismatch_and_missing_file(tmp_path):
    path = tmp_path / "narrow.pth"
    torch.save(ResUNet30(base_channels=8).state_dict(), path)
    assert load_official_separator(path, base_channels=8).base.pre_conv.out_channels == 8
    with pytest.raises(S5InputError, match="shape mismatches: base.pre_conv.weight"):
        load_official_separator(path)
    with pytest.raises(S5InputError, match="not found"):
        load_official_separator(tmp_path / "absent.ckpt")
