"""Fixed valid/test/eval sets: official layout, determinism, metadata-mode dataset."""
import json

import numpy as np
import soundfile as sf

from espnet2_ext.synth.dataset import MetadataDataset
from espnet2_ext.synth.fixed_sets import make_fixed_sets, zero_padded_names


def tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_fixed_sets_layout_determinism_and_metadata_dataset(tiny_corpus, tmp_path):
    dev, ev = tiny_corpus / "dev_set", tmp_path / "eval_set"
    make_fixed_sets(dev, ev, n_valid=3, n_test=3, n_eval=2, seed=5, duration=1.0, sr=8000)
    entries = json.loads((dev / "metadata/valid.json").read_text())
    assert entries == [{"metadata_path": f"valid/valid_{i:04d}.json"} for i in range(3)]
    meta = json.loads((dev / "metadata/valid/valid_0000.json").read_text())
    assert meta["config"]["foreground_dir"] == "data/dev_set/sound_event/valid"
    assert meta["room"]["args"]["metadata"]["sofa_path"].startswith("data/dev_set/room_ir/valid/")
    test = dev / "synthesized/test"
    names = sorted(p.stem for p in (test / "soundscape").glob("*.wav"))
    assert names == ["test_0000", "test_0001", "test_0002"]
    info = sf.info(str(test / "soundscape/test_0000.wav"))
    assert (info.channels, info.samplerate, info.frames, info.subtype) == (4, 8000, 8000, "PCM_16")
    oracle = sorted(p.name for p in (test / "oracle_target").glob("test_0000_*.wav"))
    assert 1 <= len(oracle) <= 3 and oracle[0].startswith("test_0000_0_")
    assert sf.info(str(test / "oracle_target" / oracle[0])).channels == 1
    assert sorted(p.name for p in (ev / "synthesized/eval/soundscape").iterdir()) == ["eval_0000.wav", "eval_0001.wav"]
    first = {**tree(dev / "metadata"), **tree(test), **tree(ev)}
    make_fixed_sets(dev, ev, n_valid=3, n_test=3, n_eval=2, seed=5, duration=1.0, sr=8000)
    assert {**tree(dev / "metadata"), **tree(test), **tree(ev)} == first     # byte-identical
    ds = MetadataDataset(dev / "metadata/valid.json", corpus_root=tiny_corpus)
    item = ds[0]
    assert item["name"] == "soundscape_0000" and item["mixture"].shape == (4, 8000)
    assert item["labels"][:len(meta["fg_events"])] == [e["label"] for e in meta["fg_events"]]
    assert np.isfinite(item["dry_sources"].numpy()).all()


def test_zero_padded_names():
    assert zero_padded_names("test", 2) == ["test_0000", "test_0001"]
    assert zero_padded_names("eval", 10001)[-1] == "eval_10000"
