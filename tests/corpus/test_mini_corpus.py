"""The mini corpus: deterministic, official layout details, learnable classes."""
from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from espnet2_ext.corpus.layout import SPLITS
from espnet2_ext.fileio import read_wav_header
from espnet2_ext.s5.official import M2D_FOLDER, M2D_WEIGHTS
from espnet2_ext.corpus.mini import MiniCorpusConfig, build_mini_corpus, is_built, tree_digest
from mini_corpora import SMALL
from espnet2_ext.corpus.mini.rooms import make_room_irs
from espnet2_ext.corpus.mini.sounds import CLASS_TIMBRES
from espnet2_ext.s5.labels import CLASSES
from espnet2_ext.synth.sofa import read_sofa


def test_same_seed_gives_identical_bytes(tmp_path, small_corpus):
    """small_corpus is the suite's shared SMALL build; a second build must match byte for byte."""
    again = build_mini_corpus(tmp_path / "again", SMALL)
    first, second = tree_digest(small_corpus), tree_digest(again)
    assert len(first) > 100 and first == second
    other = tree_digest(build_mini_corpus(tmp_path / "other", MiniCorpusConfig.small(
        seed=4, fixed_sets=False)))
    events = [k for k in other if k.startswith("dev_set/sound_event/")]
    assert events and all(other[k] != first[k] for k in events)


def test_stamp_and_rebuild(tmp_path):
    cfg = MiniCorpusConfig.small(seed=1, fixed_sets=False)
    out = build_mini_corpus(tmp_path / "c", cfg)
    assert is_built(out, cfg) and not is_built(out, MiniCorpusConfig.small(seed=2))
    (out / "dev_set" / "stray.txt").write_text("x")
    build_mini_corpus(out, cfg)                           # a rebuild replaces the folder
    assert not (out / "dev_set" / "stray.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]    # no temporary folder left


def test_official_layout_details(mini_corpus):
    dev = mini_corpus / "dev_set"
    for split in SPLITS:
        for cls in CLASSES:
            subfolders = [p for p in (dev / "sound_event" / split / cls).iterdir() if p.is_dir()]
            assert len(subfolders) >= 3
    noise = sorted((dev / "noise").glob("*/*.wav"))
    assert len(noise) == 5
    for p in noise:
        h = read_wav_header(p)
        assert (h.format_tag, h.channels, h.sample_rate, h.bits) == (1, 4, 32000, 16)
        assert h.frames >= 32000
    for p in sorted((dev / "room_ir").glob("*/*.sofa")):
        sofa = read_sofa(p)
        assert sofa.irs.shape == (16, 4, 4096) and sofa.sr == 32000
        unit = sofa.positions / np.linalg.norm(sofa.positions, axis=1, keepdims=True)
        angles = np.degrees(np.arccos(np.clip(unit @ unit.T, -1, 1)))
        assert (angles > 60).sum(axis=1).min() >= 8        # room for same-class duplicates
        peak = np.argmax(np.abs(sofa.irs[:, 0]), axis=-1)  # W: direct path at 1-2 m
        assert ((peak > 40) & (peak < 300)).all()
    scene = json.loads((dev / "metadata" / "valid.json").read_text())[0]["metadata_path"]
    config = json.loads((dev / "metadata" / scene).read_text())["config"]
    assert config["foreground_dir"] == "data/dev_set/sound_event/valid"
    clip = sf.info(str(sorted((dev / "sound_event" / "train" / "Speech").glob("*/*.wav"))[0]))
    assert (clip.channels, clip.samplerate) == (1, 32000) and 0.5 <= clip.duration <= 2.5
    mix = sf.info(str(sorted((mini_corpus / "eval_set").glob("**/eval_0000.wav"))[0]))
    assert (mix.channels, mix.samplerate, mix.duration) == (4, 32000, 4.0)


def test_pickup_rows_point_into_the_external_tree(mini_corpus):
    dev, ext = mini_corpus / "dev_set", mini_corpus / "external"
    fsd = json.loads((dev / "config" / "FSD50K_config.json").read_text())
    ears = json.loads((dev / "config" / "EARS_config.json").read_text())
    assert len(fsd) == 3 and len(ears) == 4
    assert all((ext / "BinauralCuratedDataset" / "FSD50K" / r["file_name"]).is_file()
               for r in fsd)
    assert all((ext / "EARS" / r["file_name"]).is_file() for r in ears)
    assert all(r["t4_label"] in CLASSES and r["convert_path"].startswith(f"train/{r['t4_label']}/")
               for r in fsd + ears)


def test_m2d_weights_are_a_tiny_vit(mini_corpus):
    from espnet2_ext.s5.tagger.m2d_weights import read_m2d_weight_file

    w = read_m2d_weight_file(mini_corpus / "checkpoint" / M2D_FOLDER / M2D_WEIGHTS)
    assert (w.embed_dim, w.depth, w.num_heads, w.input_size) == (64, 2, 2, (80, 1001))


def _band_features(path):
    x, sr = sf.read(str(path))
    spec = np.abs(np.fft.rfft(x, 1 << 16)) ** 2
    f = np.fft.rfftfreq(1 << 16, 1 / sr)
    edges = np.geomspace(50, 15000, 33)
    e = np.log(np.array([spec[(f >= lo) & (f < hi)].sum() for lo, hi in
                         zip(edges[:-1], edges[1:])]) + 1e-9)
    return e - e.mean()


def test_classes_are_distinct(mini_corpus):
    """Nearest class centroid of a long-term spectrum: train -> valid accuracy >= 80 %."""
    se = mini_corpus / "dev_set" / "sound_event"
    centroids = {c: np.mean([_band_features(p) for p in sorted((se / "train" / c).glob("*/*.wav"))],
                            axis=0) for c in CLASS_TIMBRES}
    hits = [min(centroids, key=lambda k: np.sum((centroids[k] - _band_features(p)) ** 2)) == c
            for c in CLASS_TIMBRES for p in sorted((se / "valid" / c).glob("*/*.wav"))]
    assert len(hits) == 54 and np.mean(hits) >= 0.8


def test_realistic_rooms_have_the_official_length():
    cfg = MiniCorpusConfig(realistic=True)
    assert (cfg.rir_len, cfg.clip_seconds) == (174763, (2.0, 12.0))
    irs, pos = make_room_irs(np.random.default_rng(0), 2, cfg.rir_len)
    assert irs.shape == (2, 4, 174763) and pos.shape == (2, 3)
    early = np.sum(irs[:, 0, :32000] ** 2)
    late = np.sum(irs[:, 0, -32000:] ** 2)
    assert 0 < late < 1e-3 * early                       # a decaying tail to the end
