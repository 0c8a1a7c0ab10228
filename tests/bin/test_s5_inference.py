"""Stage-7 decoding end to end (``espnet2_ext.bin.s5_inference``) on 1 s soundscapes.

Models are fabricated (tests/recipe/s5_fake_models.py): official Lightning checkpoints
(tiny-M2D M2dAtSpatial, full-width ResUNet30) and espnet2 model files built from
conf/mini/*.yaml. The taggers' slots are forced to known labels with a silence slot
placed *before* a class, so the file index ``i`` must be the slot index after moving
silence last. Every output is compared with the same models run in this process.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipe"))
from s5_fake_models import (TINY_M2D, official_separator, official_tagger,  # noqa: E402
                            write_espnet_model_file, write_lightning_checkpoint)

from cli_checks import expect_error  # noqa: E402
from espnet2_ext.bin import s5_inference, s5_score  # noqa: E402
from espnet2_ext.fileio import read_wav, write_wav  # noqa: E402
from espnet2_ext.s5.labels import labels_to_query  # noqa: E402
from espnet2_ext.s5.model_files import load_separator, load_tagger  # noqa: E402
from espnet2_ext.s5.pipeline import S5Pipeline, active_slots  # noqa: E402
from espnet2_ext.s5.tagger import fabricate_m2d_weight_file  # noqa: E402
from espnet2_ext.tasks.s5_sep import S5SeparationTask  # noqa: E402
from espnet2_ext.tasks.s5_tag import S5TaggingTask  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MINI_CONF = REPO / "egs2" / "dcase26t4" / "s5" / "conf" / "mini"
SR = 32000
N_SAMPLES = SR                      # 1 s: the full-width separator stays fast on CPU
ORACLE = {"sc_a": ["Speech", "Dishes"], "sc_b": ["Cough"], "sc_c": []}
OFFICIAL_SLOTS = ["silence", "Speech", "Dishes"]     # -> files _0_Speech, _1_Dishes
ESPNET_SLOTS = ["Typing", "silence", "Typing"]       # -> files _0_Typing, _1_Typing


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """soundscape/ (4 ch, 32 kHz, 1 s) and oracle_target/ named after ORACLE."""
    root = tmp_path_factory.mktemp("decode_corpus")
    rng = np.random.default_rng(0)
    t = np.arange(N_SAMPLES) / SR
    for name, labels in ORACLE.items():
        refs = [0.1 * np.sin(2 * np.pi * rng.uniform(200, 2000) * t) for _ in labels]
        mix = 0.01 * rng.standard_normal((4, N_SAMPLES)) + sum(refs, np.zeros(N_SAMPLES))
        write_wav(root / "soundscape" / f"{name}.wav", mix.astype(np.float32), SR)
        for i, (label, ref) in enumerate(zip(labels, refs)):
            write_wav(root / "oracle_target" / f"{name}_{i}_{label}.wav", ref.astype(np.float32), SR)
    return SimpleNamespace(soundscapes=root / "soundscape", oracle=root / "oracle_target")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Both checkpoint families on disk, plus the same models in memory."""
    root = tmp_path_factory.mktemp("decode_models")
    weights = fabricate_m2d_weight_file(root / "m2d", **TINY_M2D)
    tagger = official_tagger(weights, "4c", OFFICIAL_SLOTS)
    separator = official_separator()
    espnet_tag = write_espnet_model_file(S5TaggingTask, MINI_CONF / "tag_blocks_4c.yaml", root / "tag",
                                         labels=ESPNET_SLOTS, tagger_conf={"weight_file": str(weights)})
    espnet_sep = write_espnet_model_file(S5SeparationTask, MINI_CONF / "sep_resunetk.yaml", root / "sep")
    return SimpleNamespace(
        weights=weights,
        official_tag=write_lightning_checkpoint(root / "m2dat_4c.ckpt", tagger),
        official_sep=write_lightning_checkpoint(root / "resunetk.ckpt", separator),
        official_pipe=S5Pipeline(tagger, separator),
        espnet_tag=espnet_tag, espnet_sep=espnet_sep,
    )


def decode(corpus, out_dir: Path, *args: str) -> None:
    """Run the CLI in this process (SystemExit on bad input, like the command)."""
    s5_inference.main(["--soundscape_dir", str(corpus.soundscapes), "--output_dir", str(out_dir),
                       "--device", "cpu", *args])


def espnet_args(models):
    return ["--tagger_ckpt", str(models.espnet_tag), "--separator_ckpt", str(models.espnet_sep)]


def expected_outputs(pipe: S5Pipeline, corpus):
    """{soundscape: (labels, probabilities [3], waveform [3, T])} run here, one at a time."""
    out = {}
    for name in ORACLE:
        mix = torch.from_numpy(read_wav(corpus.soundscapes / f"{name}.wav", SR, 4)[0])[None]
        res = pipe(mix)
        out[name] = (res.labels[0], res.probabilities[0].numpy(), res.waveform[0, :, 0].numpy())
    return out


def samples(path: Path) -> np.ndarray:
    return sf.read(str(path), dtype="float32")[0]


def written(out_dir: Path):
    """{soundscape: {filename: waveform}} of the estimate files, and estimates.json."""
    files = {}
    for p in sorted(out_dir.glob("*.wav")):
        info = sf.info(str(p))
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (SR, 1, "FLOAT", N_SAMPLES), p
        files.setdefault(p.name.rsplit("_", 2)[0], {})[p.name] = samples(p)
    return files, json.loads((out_dir / "estimates.json").read_text())


def check_against(out_dir: Path, expected, slots_after_silence_last) -> None:
    """Files, estimates.json and waveforms agree with the in-process run."""
    files, estimates = written(out_dir)
    assert sorted(estimates) == sorted(ORACLE)
    for name, (labels, probs, wav) in expected.items():
        assert labels == slots_after_silence_last
        active = active_slots(labels)
        names = [f"{name}_{i}_{labels[i]}.wav" for i in active]
        assert sorted(files.get(name, {})) == sorted(names)
        assert [e["filename"] for e in estimates[name]] == names
        assert [e["label"] for e in estimates[name]] == [labels[i] for i in active]
        np.testing.assert_allclose([e["probability"] for e in estimates[name]], probs[active], atol=1e-5)
        for i, fname in zip(active, names):
            np.testing.assert_allclose(files[name][fname], wav[i], atol=1e-5)
            assert np.abs(wav[i]).max() > 0


def test_official_checkpoints_as_a_module_then_scored(corpus, models, tmp_path):
    out = tmp_path / "est"
    proc = subprocess.run(
        [sys.executable, "-m", "espnet2_ext.bin.s5_inference", "--soundscape_dir", str(corpus.soundscapes),
         "--output_dir", str(out), "--tagger_ckpt", str(models.official_tag), "--tagger_type", "m2d_at_4c",
         "--m2d_weight_file", str(models.weights), "--separator_ckpt", str(models.official_sep),
         "--device", "cpu"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    check_against(out, expected_outputs(models.official_pipe, corpus), ["Speech", "Dishes", "silence"])
    assert sorted(p.name for p in (out / "records").iterdir()) == [f"{n}.json" for n in sorted(ORACLE)]

    # the scorer accepts the decoder's output: label accuracy is what the forced tagger implies
    s5_score.main(["--soundscape_dir", str(corpus.soundscapes), "--oracle_target_dir", str(corpus.oracle),
                   "--estimate_dir", str(out), "--output_dir", str(tmp_path / "score")])
    res = json.loads((tmp_path / "score" / "results.json").read_text())
    assert res["label_metrics"]["accuracy_mix"] == pytest.approx(100 / 3, abs=1e-3)   # sc_a only
    details = {d["soundscape"]: d for d in res["details"]}
    assert details["sc_a"]["est_labels"] == ["Speech", "Dishes", "silence"]
    # the parameter count travels from the decoder to the results (the submission needs it)
    nparams = sum(p.numel() for p in models.official_pipe.parameters())
    assert json.loads((out / "model_info.json").read_text())["nparams"] == nparams
    assert res["nparams"] == nparams


def test_espnet_model_files(corpus, models, tmp_path):
    decode(corpus, tmp_path, *espnet_args(models))
    pipe = S5Pipeline(load_tagger(models.espnet_tag), load_separator(models.espnet_sep))
    check_against(tmp_path, expected_outputs(pipe, corpus), ["Typing", "Typing", "silence"])


def test_iterative_refinement_model_file_decodes_all_passes(corpus, models, tmp_path):
    """A resunetk_iter model file (conf/mini/sep_resunetk_iter.yaml) decodes its last pass."""
    from espnet2_ext.s5.separator import ResUNet30Iterative

    sep_file = write_espnet_model_file(S5SeparationTask, MINI_CONF / "sep_resunetk_iter.yaml", tmp_path / "sep")
    decode(corpus, tmp_path / "out", "--tagger_ckpt", str(models.espnet_tag), "--separator_ckpt", str(sep_file))
    separator = load_separator(sep_file)
    assert isinstance(separator, ResUNet30Iterative) and separator.n_passes == 2
    pipe = S5Pipeline(load_tagger(models.espnet_tag), separator)
    check_against(tmp_path / "out", expected_outputs(pipe, corpus), ["Typing", "Typing", "silence"])
    mix = torch.from_numpy(read_wav(corpus.soundscapes / "sc_a.wav", SR, 4)[0])[None]
    with torch.no_grad():
        passes, _ = separator.separate_passes(mix, torch.stack([labels_to_query(["Typing", "Typing", "silence"])]))
    first = samples(tmp_path / "out" / "sc_a_0_Typing.wav")
    np.testing.assert_allclose(first, passes[-1][0, 0, 0].numpy(), atol=1e-5)
    assert not np.allclose(first, passes[0][0, 0, 0].numpy(), atol=1e-5)   # not the first pass


def test_oracle_labels_need_no_tagger(corpus, models, tmp_path):
    decode(corpus, tmp_path, "--separator_ckpt", str(models.espnet_sep),
           "--oracle_target_dir", str(corpus.oracle), "--oracle_labels", "true")
    files, estimates = written(tmp_path)
    oracle_names = {n: sorted(p.name for p in corpus.oracle.glob(f"{n}_*.wav")) for n in ORACLE}
    assert {n: sorted(files.get(n, {})) for n in ORACLE} == oracle_names
    assert {n: [e["filename"] for e in v] for n, v in estimates.items()} == oracle_names
    assert all(e["probability"] == 1.0 for v in estimates.values() for e in v)
    assert estimates["sc_c"] == [] and "sc_c" not in files


@pytest.mark.parametrize("swap", ["tagger_as_separator", "1c_for_4c"])
def test_wrong_checkpoint_names_file_and_keys(corpus, models, tmp_path, capsys, swap):
    if swap == "tagger_as_separator":
        args = ["--oracle_target_dir", str(corpus.oracle), "--oracle_labels", "true",
                "--separator_ckpt", str(models.official_tag)]
        bad, expect = models.official_tag, ["missing keys: base.", "unexpected keys: m2d."]
    else:
        bad = write_lightning_checkpoint(tmp_path / "m2dat_1c.ckpt", official_tagger(models.weights, "1c"))
        args = ["--tagger_ckpt", str(bad), "--tagger_type", "m2d_at_4c", "--m2d_weight_file",
                str(models.weights), "--separator_ckpt", str(models.espnet_sep)]
        expect = ["missing keys: m2d.", "unexpected keys: model.backbone."]
    with pytest.raises(SystemExit) as exc:
        decode(corpus, tmp_path / "est", *args)
    assert exc.value.code != 0
    err = capsys.readouterr().err
    assert str(bad) in err
    for part in expect:
        assert part in err
    assert not list((tmp_path / "est").glob("*.wav")) and not (tmp_path / "est" / "estimates.json").exists()


def test_job_split_and_merge_equal_one_job(corpus, models, tmp_path, capsys):
    decode(corpus, tmp_path / "one", *espnet_args(models), "--batch_size", "1")
    split = tmp_path / "split"
    decode(corpus, split, *espnet_args(models), "--batch_size", "1", "--job", "1", "--nj", "2")
    assert not (split / "estimates.json").exists()            # job 2 has not run yet
    expect_error(s5_inference.main, ["--soundscape_dir", str(corpus.soundscapes), "--output_dir", str(split),
                                     "--device", "cpu", *espnet_args(models), "--merge_only", "true"],
                 capsys, "1 soundscapes not decoded yet")
    decode(corpus, split, *espnet_args(models), "--batch_size", "1", "--job", "2", "--nj", "2")
    (split / "estimates.json").unlink()                        # the last job merged; merge again
    decode(corpus, split, *espnet_args(models), "--merge_only", "true")
    ref = sorted(p.name for p in (tmp_path / "one").glob("*.wav"))
    assert ref and sorted(p.name for p in split.glob("*.wav")) == ref
    for name in ref:       # same samples; the bytes differ (libsndfile's PEAK chunk has a time stamp)
        assert np.array_equal(samples(split / name), samples(tmp_path / "one" / name))
    assert (split / "estimates.json").read_text() == (tmp_path / "one" / "estimates.json").read_text()


def test_resume_keeps_finished_soundscapes(corpus, models, tmp_path):
    decode(corpus, tmp_path, *espnet_args(models))
    stamps = {p.name: p.stat().st_mtime_ns for p in [*tmp_path.glob("*.wav"), *tmp_path.glob("records/*")]}
    before = {n: samples(tmp_path / n) for n in stamps if n.endswith(".wav")}
    (tmp_path / "records" / "sc_b.json").unlink()              # sc_b "was interrupted"
    decode(corpus, tmp_path, *espnet_args(models))
    after = {p.name: p.stat().st_mtime_ns for p in [*tmp_path.glob("*.wav"), *tmp_path.glob("records/*")]}
    assert sorted(after) == sorted(stamps)
    for name, stamp in stamps.items():
        if name.startswith("sc_b"):
            assert after[name] != stamp, f"{name} was not redone"
        else:
            assert after[name] == stamp, f"{name} was rewritten"
    for name, wav in before.items():       # sc_b ran in a batch of 2, now alone
        np.testing.assert_allclose(samples(tmp_path / name), wav, atol=1e-6)
    assert sorted(json.loads((tmp_path / "estimates.json").read_text())) == sorted(ORACLE)


def test_espnet_model_file_of_the_other_task_is_a_clear_error(corpus, models, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        decode(corpus, tmp_path, "--tagger_ckpt", str(models.espnet_sep), "--separator_ckpt", str(models.espnet_sep))
    err = capsys.readouterr().err
    assert exc.value.code == 2 and str(models.espnet_sep) in err and "separator" in err


def test_decoding_another_model_into_a_used_folder_stops_or_equals_a_fresh_decode(corpus, models, tmp_path, capsys):
    used = tmp_path / "used"
    decode(corpus, used, *espnet_args(models))
    before = {p.name: samples(p) for p in used.glob("*.wav")}
    official = ["--tagger_ckpt", str(models.official_tag), "--tagger_type", "m2d_at_4c",
                "--m2d_weight_file", str(models.weights), "--separator_ckpt", str(models.official_sep)]
    with pytest.raises(SystemExit) as exc:
        decode(corpus, used, *official)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("ERROR:") == 1
    assert str(used) in err and "separator.file" in err and "--overwrite true" in err
    assert {p.name: samples(p) for p in used.glob("*.wav")}.keys() == before.keys()   # untouched

    decode(corpus, used, *official, "--overwrite", "true")
    decode(corpus, tmp_path / "fresh", *official)
    fresh_files, fresh_json = written(tmp_path / "fresh")
    used_files, used_json = written(used)
    assert used_json == fresh_json and used_files.keys() == fresh_files.keys()
    for name in fresh_files:
        for f in fresh_files[name]:
            assert np.array_equal(used_files[name][f], fresh_files[name][f])
    identity = json.loads((used / "identity.json").read_text())
    assert identity["kind"] == "decode" and identity["identity"]["tagger"]["tagger_type"] == "m2d_at_4c"
    decode(corpus, used, *official)                      # same models: resumes, nothing to do
