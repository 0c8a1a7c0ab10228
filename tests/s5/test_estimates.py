"""Official per-source file names: parsing, folder indexing, estimates.json checks."""
import json

import numpy as np
import pytest

from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import write_wav
from espnet2_ext.s5 import estimates as est_io
from espnet2_ext.s5 import official


def test_parse_and_write_names():
    assert official.source_filename("eval_0001", 2, "Speech") == "eval_0001_2_Speech.wav"
    assert official.parse_source_filename("eval_0001_2_Speech.wav", "eval_0001") == (2, "Speech")
    assert official.parse_source_filename("eval_0001_Speech.wav", "eval_0001") == (None, "Speech")  # 2025
    assert official.parse_source_filename("eval_0001_2_Speech.wav", "eval_0002") is None
    assert official.parse_source_filename("eval_00012_Speech.wav", "eval_0001") is None


def _touch(folder, *names):
    for n in names:
        write_wav(folder / n, np.zeros(8, np.float32), 32000)


def test_index_resolves_prefix_clashes_and_sorts(tmp_path):
    _touch(tmp_path, "s_1_1_Cough.wav", "s_1_0_Speech.wav", "s_10_0_Pour.wav", "s_1_Dishes.wav")
    index = est_io.index_sources(tmp_path, ["s_1", "s_10", "s_2"])
    assert [f.filename for f in index["s_1"]] == ["s_1_0_Speech.wav", "s_1_1_Cough.wav", "s_1_Dishes.wav"]
    assert [(f.slot, f.label) for f in index["s_1"]] == [(0, "Speech"), (1, "Cough"), (None, "Dishes")]
    assert [f.label for f in index["s_10"]] == ["Pour"] and index["s_2"] == []


@pytest.mark.parametrize("bad", ["s_1_0_speech.wav", "t_0_Speech.wav", "s_1.wav"])
def test_index_names_the_bad_file(tmp_path, bad):
    _touch(tmp_path, "s_1_0_Speech.wav", bad)
    with pytest.raises(S5InputError, match=bad.replace(".", r"\.")):
        est_io.index_sources(tmp_path, ["s_1"])


def test_oracle_labels_of(tmp_path):
    _touch(tmp_path, "a_1_Cough.wav", "a_0_Speech.wav", "ab_0_Pour.wav")
    assert est_io.oracle_labels_of(tmp_path, "a") == ["Speech", "Cough", "silence"]
    assert est_io.oracle_labels_of(tmp_path, "zz") == ["silence"] * 3


def test_estimates_json_cross_check(tmp_path):
    _touch(tmp_path, "a_0_Speech.wav")
    index = est_io.index_sources(tmp_path, ["a", "b"])
    good = {"a": [{"filename": "a_0_Speech.wav", "label": "Speech", "probability": 0.7}]}
    assert est_io.check_estimates_json(good, index, "x.json") == {"a_0_Speech.wav": 0.7}
    with pytest.raises(S5InputError, match="soundscape b"):
        est_io.check_estimates_json(good, index, "x.json", require_every_soundscape=True)
    wrong_label = {"a": [dict(good["a"][0], label="Cough")]}
    with pytest.raises(S5InputError, match="label"):
        est_io.check_estimates_json(wrong_label, index, "x.json")
    (tmp_path / "bad.json").write_text(json.dumps({"a": [{"filename": "a_0_Speech.wav"}]}))
    with pytest.raises(S5InputError, match="not an estimates JSON"):
        est_io.read_estimates_json(tmp_path / "bad.json")
