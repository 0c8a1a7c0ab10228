"""Differential test: what the official readers accept gives the same mixtures here.

The same scenes are rendered from the canonical tiny corpus (16-bit mono WAV clips,
netCDF-4 SOFA rooms) and from copies whose files hold the same data in other valid
encodings: 24-bit and float WAV, FLAC, stereo clips with identical channels (read as
mono, as librosa's ``mono=True`` does), and netCDF-3 rooms (read by python-sofa). The
16-bit samples are exactly representable in every variant, so the mixtures must agree
to float rounding.
"""
import shutil

import numpy as np
import pytest
import soundfile as sf

from synth_corpus import scene_config
from espnet2_ext.synth.sampler import SceneSampler, scene_rng
from espnet2_ext.synth.render import SceneRenderer
from espnet2_ext.synth.sofa import read_sofa, write_sofa


def reencode(corpus, out, clip_variant):
    """A copy of ``corpus`` whose event/interference clips are rewritten as ``clip_variant``."""
    shutil.copytree(corpus, out)
    for path in [*(out / "dev_set/sound_event").rglob("*.wav"), *(out / "dev_set/interference").rglob("*.wav")]:
        data, sr = sf.read(str(path), dtype="float32")
        if clip_variant == "stereo":
            sf.write(str(path), np.stack([data, data], axis=1), sr, subtype="PCM_16")
        elif clip_variant == "flac":      # FLAC content behind the .wav name the metadata refers to
            sf.write(str(path), data, sr, format="FLAC", subtype="PCM_16")
        else:
            sf.write(str(path), data, sr, subtype=clip_variant)
    if clip_variant == "PCM_24":          # with it, the rooms as netCDF-3
        for sofa in (out / "dev_set/room_ir").rglob("*.sofa"):
            room = read_sofa(sofa)
            import netCDF4
            with netCDF4.Dataset(str(sofa)) as ds:
                irs = np.asarray(ds["Data.IR"][:], dtype=np.float64)
            write_sofa(sofa, irs, room.sr, room.positions, file_format="NETCDF3_64BIT_OFFSET")
            assert sofa.read_bytes()[:3] == b"CDF"
    return out


@pytest.mark.parametrize("clip_variant", ["PCM_24", "FLOAT", "flac", "stereo"])
def test_variant_encodings_render_the_same_mixtures(tiny_corpus, tmp_path, clip_variant):
    variant = reencode(tiny_corpus, tmp_path / "variant", clip_variant)
    sampler = SceneSampler(scene_config(), {"nevent_range": [2, 3], "ninterference_range": [1, 2]}, tiny_corpus)
    canonical, other = SceneRenderer(tiny_corpus), SceneRenderer(variant)
    for i in range(3):
        scene = sampler.sample(scene_rng(11, 0, i))
        a, b = canonical.render(scene), other.render(scene)
        scale = np.abs(a.mixture).max()
        np.testing.assert_allclose(b.mixture, a.mixture, atol=1e-6 * scale)
        np.testing.assert_allclose(b.dry, a.dry, atol=1e-6 * scale)
