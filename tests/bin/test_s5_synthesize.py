"""Stage 3 end to end: local/synthesize.sh with the repo's run.pl on a tiny corpus."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from espnet2_ext.bin import s5_synthesize
from espnet2_ext.fileio import write_wav
from espnet2_ext.synth.dataset import DataDirDataset, MetadataDataset
from espnet2_ext.synth.fixed_sets import make_fixed_sets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "synth"))
from synth_corpus import build_corpus  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def recipe(tmp_path_factory, recipe_dir):
    root = tmp_path_factory.mktemp("recipe")
    data = build_corpus(root / "data")
    make_fixed_sets(data / "dev_set", data / "eval_set", n_valid=4, n_test=2, n_eval=2, seed=1,
                    duration=1.0, sr=8000)
    (root / "local").mkdir()
    os.symlink(recipe_dir / "local" / "synthesize.sh", root / "local" / "synthesize.sh")
    os.symlink(recipe_dir / "utils", root / "utils")
    return root


def run_stage3(root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PATH=f"{root / 'utils'}:{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run(
        ["bash", "local/synthesize.sh", "--cmd", "run.pl", "--nj", "2", "--dev_set", "data/dev_set",
         "--eval_set", "data/eval_set", "--data_dir", "data", "--logdir", "exp/synthesize"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_stage3_writes_data_dirs_and_resumes(recipe):
    res = run_stage3(recipe)
    assert res.returncode == 0, res.stdout + res.stderr
    data = recipe / "data"
    assert (recipe / "exp/synthesize/synth.2.log").is_file()
    for name in ("valid", "test"):
        d = data / name
        files = {p.name for p in d.iterdir() if p.is_file()}
        assert {"wav.scp", "labels", "spk1.scp", "spk2.scp", "spk3.scp", "soundscape_dir",
                "oracle_target_dir"} <= files
        ids = [line.split()[0] for line in (d / "wav.scp").read_text().splitlines()]
        assert ids == sorted(ids) and len(ids) == (4 if name == "valid" else 2)
        assert all(Path(line.split()[1]).is_absolute() for line in (d / "wav.scp").read_text().splitlines())
        for line, s1, s3 in zip(*[(d / f).read_text().splitlines() for f in ("labels", "spk1.scp", "spk3.scp")]):
            labels = line.split()[1:]
            assert len(labels) == 3 and labels[0] != "silence"      # fixed sets have >= 1 target
            assert (s1.split()[1] == "-") == (labels[0] == "silence")
            assert (s3.split()[1] == "-") == (labels[2] == "silence")
    assert sorted(p.name for p in (data / "eval").iterdir()) == ["soundscape_dir", "spk2utt", "utt2spk", "wav.scp"]
    assert Path((data / "valid/soundscape_dir").read_text().strip()) == (data / "valid/soundscape").absolute()

    # the data dir gives the same items as on-the-fly metadata rendering (up to PCM16 rounding)
    from_dir = DataDirDataset(data / "valid", sr=8000)
    from_meta = MetadataDataset(data / "dev_set/metadata/valid.json", corpus_root=data)
    for i in range(4):
        a, b = from_dir[i], from_meta[i]
        assert a["name"] == b["name"] and a["labels"] == b["labels"]
        assert np.abs(a["mixture"] - b["mixture"]).max() <= 2 / 32768
        assert np.abs(a["dry_sources"] - b["dry_sources"]).max() <= 2 / 32768
        assert a["label_vector"].equal(b["label_vector"])
    assert "labels" not in DataDirDataset(data / "eval", sr=8000)[0]

    # resumable: finished mixtures are not written again, a missing one is
    wavs = sorted((data / "valid/soundscape").glob("*.wav"))
    stamps = {p: p.stat().st_mtime_ns for p in wavs}
    wavs[1].unlink()
    res = run_stage3(recipe)
    assert res.returncode == 0, res.stdout + res.stderr
    assert wavs[1].is_file()
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items() if p != wavs[1])


def test_datadir_rejects_bad_oracle_names(tmp_path, capsys):
    (tmp_path / "sc").mkdir(), (tmp_path / "or").mkdir()
    (tmp_path / "sc/test_0000.wav").write_bytes(b"")
    (tmp_path / "or/test_0000_0_NotAClass.wav").write_bytes(b"")
    with pytest.raises(SystemExit) as e:
        s5_synthesize.main(["datadir", "--soundscape_dir", str(tmp_path / "sc"), "--oracle_target_dir",
                            str(tmp_path / "or"), "--out_dir", str(tmp_path / "d")])
    assert e.value.code == 2 and "NotAClass" in capsys.readouterr().err
    assert not (tmp_path / "d/wav.scp").exists()


def test_datadir_does_not_mix_prefixes_and_refuses_what_scoring_would(tmp_path, capsys):
    for name in ("test_0001", "test_00010"):
        write_wav(tmp_path / "sc" / f"{name}.wav", np.zeros((4, 400), dtype=np.float32), 32000)
    for f in ("test_0001_0_Speech.wav", "test_00010_0_Cough.wav", "test_0001_1_Dishes.wav"):
        write_wav(tmp_path / "or" / f, np.zeros(400, dtype=np.float32), 32000)
    s5_synthesize.main(["datadir", "--soundscape_dir", str(tmp_path / "sc"), "--oracle_target_dir",
                        str(tmp_path / "or"), "--out_dir", str(tmp_path / "d")])
    assert (tmp_path / "d/labels").read_text().splitlines() == [
        "test_0001 Speech Dishes silence", "test_00010 Cough silence silence"]
    assert (tmp_path / "d/utt2spk").read_text() == "test_0001 test_0001\ntest_00010 test_00010\n"
    ok = subprocess.run(["bash", str(REPO / "utils" / "validate_data_dir.sh"), "--no-text", "--no-feats",
                         str(tmp_path / "d")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    # an oracle target of a soundscape that is not in the set: stage 8 would refuse it, so stage 3 does
    write_wav(tmp_path / "or" / "test_0002_0_Cough.wav", np.zeros(400, dtype=np.float32), 32000)
    with pytest.raises(SystemExit):
        s5_synthesize.main(["datadir", "--soundscape_dir", str(tmp_path / "sc"), "--oracle_target_dir",
                            str(tmp_path / "or"), "--out_dir", str(tmp_path / "d2")])
    assert "test_0002_0_Cough.wav: the name matches no soundscape" in capsys.readouterr().err
    (tmp_path / "or" / "test_0002_0_Cough.wav").unlink()
    (tmp_path / "sc" / "test_0001.wav").rename(tmp_path / "sc" / "test_0003.WAV")
    with pytest.raises(SystemExit):
        s5_synthesize.main(["datadir", "--soundscape_dir", str(tmp_path / "sc"), "--out_dir", str(tmp_path / "d3")])
    assert "must be lower-case .wav" in capsys.readouterr().err and not (tmp_path / "d3").exists()
