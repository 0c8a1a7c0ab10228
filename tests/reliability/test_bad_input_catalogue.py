"""Bad inputs: every case exits 2 with one clear ``ERROR:`` line and leaves no partial output.

The cases and their expected outcomes are listed in ``reliability_cases.py``.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from espnet2_ext.bin import s5_inference, s5_score, s5_submission, s5_synthesize, s5_tag_train, s5_verify_layout
from espnet2_ext.s5.official import M2D_WEIGHTS
from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import write_json, write_pcm16, write_torch, write_wav
from espnet2_ext.synth.sofa import write_sofa
from reliability_cases import covers
from reliability_tools import (decode_args, expect_error, listing, recipe_copy, run_sh, same_file, same_files,
                               single_thread, train_args)

SR = 32000


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


# ================================================================== decoding (s5_inference)
@pytest.fixture
def scapes(tmp_path, test_set) -> Path:
    """A private copy of the dev test soundscapes, to add a bad one to."""
    return Path(shutil.copytree(test_set.soundscape, tmp_path / "scapes"))


def decode_fails(models, scapes: Path, tmp_path: Path, capsys, *needles, extra=()) -> str:
    """s5_inference must stop with an error holding ``needles`` and write no result (at most the
    folder's identity record, when the error is found while decoding, after the models loaded)."""
    out = tmp_path / "out"
    msg = expect_error(s5_inference.main, decode_args(models, scapes, out) + list(extra), capsys, *needles)
    assert listing(out) in (None, ["identity.json"])
    return msg


@covers("soundscape_16k")
def test_soundscape_16k(models, scapes, tmp_path, capsys):
    sf.write(scapes / "bad.wav", np.zeros((SR, 4)), 16000)
    decode_fails(models, scapes, tmp_path, capsys, str(scapes / "bad.wav"), "16000 Hz",
                 "sox in.wav -r 32000")


@covers("soundscape_2ch")
def test_soundscape_2ch(models, scapes, tmp_path, capsys):
    sf.write(scapes / "bad.wav", np.zeros((SR, 2)), SR)
    decode_fails(models, scapes, tmp_path, capsys, str(scapes / "bad.wav"), "2 ch", "4-channel")


@covers("soundscape_corrupt")
def test_soundscape_corrupt(models, scapes, tmp_path, capsys):
    (scapes / "bad.wav").write_bytes(os.urandom(3000))
    decode_fails(models, scapes, tmp_path, capsys, f"cannot read soundscape {scapes / 'bad.wav'}")


@covers("soundscape_truncated")
def test_soundscape_truncated(models, scapes, tmp_path, capsys):
    truncate(scapes / "test_0001.wav")
    decode_fails(models, scapes, tmp_path, capsys, f"{scapes / 'test_0001.wav'} is truncated",
                 "re-download")


@covers("soundscape_empty")
def test_soundscape_empty(models, scapes, tmp_path, capsys):
    sf.write(scapes / "bad.wav", np.zeros((0, 4)), SR)
    decode_fails(models, scapes, tmp_path, capsys, f"{scapes / 'bad.wav'} is empty")


@covers("soundscape_nan")
def test_soundscape_nan(models, scapes, tmp_path, capsys):
    wav = np.zeros((SR, 4), dtype=np.float32)
    wav[100, 0], wav[200, 3] = np.nan, np.inf
    sf.write(scapes / "a_bad.wav", wav, SR, subtype="FLOAT")     # sorted first: decoded first
    with single_thread():
        decode_fails(models, scapes, tmp_path, capsys, str(scapes / "a_bad.wav"), "NaN or Inf")


@covers("soundscape_dir_empty")
def test_soundscape_dir_empty(models, tmp_path, capsys):
    (tmp_path / "none").mkdir()
    decode_fails(models, tmp_path / "none", tmp_path, capsys, f"no .wav soundscapes in {tmp_path / 'none'}")


@covers("decode_job_out_of_range")
def test_decode_job_out_of_range(models, test_set, tmp_path, capsys):
    decode_fails(models, test_set.soundscape, tmp_path, capsys, "--job must be in 1..4, got 5",
                 extra=["--job", "5", "--nj", "4"])


@covers("merge_before_jobs_done")
def test_merge_before_jobs_done(models, test_set, reference_decode, tmp_path, capsys):
    out = Path(shutil.copytree(reference_decode, tmp_path / "out"))
    (out / "estimates.json").unlink()
    (out / "records" / "test_0002.json").unlink()
    before = listing(out)
    expect_error(s5_inference.main, decode_args(models, test_set.soundscape, out) + ["--merge_only", "true"],
                 capsys, "1 soundscapes not decoded yet", "test_0002", "rerun the decoding jobs")
    assert listing(out) == before


@pytest.fixture
def model_copy(tmp_path):
    """model_copy(model_file, config_from=None) -> a folder with model.pth (+ a config.yaml)."""
    def make(model_file: Path, config_from: Path = None, name: str = "m") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        shutil.copy(model_file, folder / "model.pth")
        if config_from is not None:
            shutil.copy(config_from.parent / "config.yaml", folder / "config.yaml")
        return folder / "model.pth"
    return make


@covers("tagger_given_as_separator")
def test_tagger_given_as_separator(models, test_set, tmp_path, capsys):
    decode_fails(models, test_set.soundscape, tmp_path, capsys,
                 f"{models.tagger} is not an S5 separator model", "is that of a tagger model",
                 extra=["--separator_ckpt", str(models.tagger)])


@covers("checkpoint_keys_mismatch")
def test_checkpoint_keys_mismatch(models, test_set, tmp_path, capsys, model_copy):
    swapped = model_copy(models.tagger, config_from=models.separator)
    decode_fails(models, test_set.soundscape, tmp_path, capsys,
                 f"checkpoint {swapped} does not match ESPnetS5SeparatorModel", "missing keys: separator.",
                 "unexpected keys: tagger.", extra=["--separator_ckpt", str(swapped)])


@covers("checkpoint_truncated")
def test_checkpoint_truncated(models, test_set, tmp_path, capsys, model_copy):
    cut = model_copy(models.separator, config_from=models.separator)
    truncate(cut)
    decode_fails(models, test_set.soundscape, tmp_path, capsys, f"cannot read checkpoint {cut}",
                 "Is it a complete PyTorch file?", extra=["--separator_ckpt", str(cut)])


@covers("model_config_missing")
def test_model_config_missing(models, test_set, tmp_path, capsys, model_copy):
    alone = model_copy(models.separator)
    decode_fails(models, test_set.soundscape, tmp_path, capsys,
                 f"{alone.parent.resolve() / 'config.yaml'} is missing", "pass the training config.yaml",
                 extra=["--separator_ckpt", str(alone)])


@covers("m2d_wrong_folder_name")
def test_m2d_wrong_folder_name(models, test_set, m2d_weight_file, tmp_path, capsys):
    moved = tmp_path / "m2d_weights" / M2D_WEIGHTS
    moved.parent.mkdir()
    shutil.copy(m2d_weight_file, moved)
    config = yaml.safe_load((models.tagger.parent / "config.yaml").read_text())
    config["tagger_conf"]["weight_file"] = str(moved)
    (tmp_path / "tag.yaml").write_text(yaml.safe_dump(config))
    decode_fails(models, test_set.soundscape, tmp_path, capsys, "weight folder name 'm2d_weights'",
                 "keep the release folder name", extra=["--tagger_config", str(tmp_path / "tag.yaml")])


def fail_once_at(n: int, real, when=lambda *a, **k: True):
    """A stand-in for ``real`` whose ``n``-th matching call raises OSError(ENOSPC)."""
    calls = {"n": 0}

    def call(*args, **kwargs):
        if when(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    return call


@covers("disk_full_sf_write", "disk_full_rename")
@pytest.mark.parametrize("where", ["sf_write", "rename"])
def test_disk_full_while_writing_estimates(where, models, test_set, reference_decode, tmp_path, capsys,
                                           monkeypatch):
    if where == "sf_write":
        monkeypatch.setattr(sf, "write", fail_once_at(2, sf.write))
    else:
        monkeypatch.setattr(os, "replace", fail_once_at(2, os.replace, lambda src, dst: str(dst).endswith(".wav")))
    out = tmp_path / "out"
    with single_thread():
        expect_error(s5_inference.main, decode_args(models, test_set.soundscape, out), capsys,
                     "no space left on the device while writing", str(out), "free some space")
    files = listing(out)
    assert files and "estimates.json" not in files
    assert not [f for f in files if f.endswith(".part")]               # temporaries removed
    for f in files:                                                     # complete, never truncated
        same_file(out / f, reference_decode / f)
    monkeypatch.undo()                                                  # space freed: rerun
    with single_thread():
        s5_inference.main(decode_args(models, test_set.soundscape, out))
    same_files(out, reference_decode)


@pytest.fixture
def tiny_fs(tmpfs):
    """A 64 KiB tmpfs: a file system that really fills up."""
    return tmpfs("full", "size=64k")


@covers("disk_full_real_tmpfs")
def test_disk_full_real_tmpfs(tiny_fs):
    big = np.random.default_rng(0).standard_normal(SR * 2).astype(np.float32)
    writers = {"a.wav": lambda p: write_wav(p, big, SR), "b.json": lambda p: write_json(p, big.tolist()),
               "c.pth": lambda p: write_torch(p, {"x": big})}
    for name, write in writers.items():
        with pytest.raises(S5InputError, match=f"no space left on the device while writing {tiny_fs / name}"):
            write(tiny_fs / name)
        assert listing(tiny_fs) == []
    write_json(tiny_fs / "small.json", [1, 2])        # the space was given back
    assert listing(tiny_fs) == ["small.json"]


# ================================================================== scoring (s5_score)
def score_fails(test_set, oracle: Path, estimates: Path, tmp_path: Path, capsys, *needles) -> None:
    out = tmp_path / "score"
    expect_error(s5_score.main, ["--soundscape_dir", str(test_set.soundscape), "--oracle_target_dir",
                                 str(oracle), "--estimate_dir", str(estimates), "--output_dir", str(out)],
                 capsys, *needles)
    assert listing(out) is None


@pytest.fixture
def estimates(tmp_path, test_set) -> Path:
    """Perfect estimates: a copy of the oracle targets (valid names and lengths)."""
    return Path(shutil.copytree(test_set.oracle_target, tmp_path / "estimates"))


@covers("oracle_unknown_label")
def test_oracle_unknown_label(test_set, estimates, tmp_path, capsys, copy_of):
    oracle = copy_of(test_set.oracle_target)
    first = sorted(oracle.glob("test_0000_0_*.wav"))[0]
    first.rename(oracle / "test_0000_0_Dog.wav")
    score_fails(test_set, oracle, estimates, tmp_path, capsys,
                f"oracle target {oracle / 'test_0000_0_Dog.wav'}: unknown label 'Dog'", "AlarmClock")


@covers("estimate_bad_name")
def test_estimate_bad_name(test_set, estimates, tmp_path, capsys):
    shutil.copy(sorted(estimates.glob("*.wav"))[0], estimates / "test_0000-Speech.wav")
    score_fails(test_set, test_set.oracle_target, estimates, tmp_path, capsys,
                f"estimate {estimates / 'test_0000-Speech.wav'}: the name matches no soundscape",
                "<soundscape>_<i>_<Label>.wav")


@covers("estimate_wrong_length")
def test_estimate_wrong_length(test_set, estimates, tmp_path, capsys):
    target = sorted(estimates.glob("test_0001_*.wav"))[0]
    wav, sr = sf.read(target)
    sf.write(target, wav[:-SR], sr)
    score_fails(test_set, test_set.oracle_target, estimates, tmp_path, capsys,
                f"estimate {target} has {len(wav) - SR} samples but its soundscape has {len(wav)}")


@covers("estimate_inf")
def test_estimate_inf(test_set, estimates, tmp_path, capsys):
    target = sorted(estimates.glob("test_0000_*.wav"))[0]
    wav, sr = sf.read(target, dtype="float32")
    wav[10] = np.inf
    sf.write(target, wav, sr, subtype="FLOAT")
    score_fails(test_set, test_set.oracle_target, estimates, tmp_path, capsys,
                f"estimate {target} contains NaN or Inf samples")


# ================================================================== submission (s5_submission)
@pytest.fixture
def submission_inputs(test_set, estimates):
    """The dev test set as 'eval' set: oracle targets as estimates with an estimates.json, a results.json."""
    from espnet2_ext.s5 import estimates as est_io

    names = est_io.list_soundscapes(test_set.soundscape)
    index = est_io.index_sources(estimates, names)
    entries = {s: [{"filename": f.filename, "label": f.label, "probability": 0.75} for f in files]
               for s, files in index.items()}
    write_json(estimates / "estimates.json", entries)
    results = {"CAPI-SDRi": {"mean": 8.0}, "label_metrics": {"accuracy_mix": 50.0, "accuracy_src": 60.0},
               "details": [{"soundscape": n} for n in names]}
    write_json(estimates.parent / "results.json", results)
    return entries, results


def submission_fails(test_set, estimates: Path, capsys, *needles) -> None:
    out = estimates.parent / "submission"
    expect_error(s5_submission.main, ["--eval_estimate_dir", str(estimates), "--eval_soundscape_dir",
                                      str(test_set.soundscape), "--dev_results", str(estimates.parent / "results.json"),
                                      "--author", "Doe", "--affiliation", "Lab", "--submission_number", "1",
                                      "--output_dir", str(out), "--nparams", "1234"], capsys, *needles)
    assert listing(out) is None


@covers("estimates_json_nan_probability")
def test_estimates_json_nan_probability(test_set, estimates, submission_inputs, capsys):
    entries, _ = submission_inputs
    first = next(s for s in entries if entries[s])
    entries[first][0]["probability"] = float("nan")
    (estimates / "estimates.json").write_text(json.dumps(entries))
    submission_fails(test_set, estimates, capsys,
                     f"{estimates / 'estimates.json'}: [{first!r}][0].probability = nan is not a finite number",
                     "re-run the decoder")


@covers("results_json_nan")
def test_results_json_nan(test_set, estimates, submission_inputs, capsys):
    _, results = submission_inputs
    results["CAPI-SDRi"]["mean"] = float("nan")
    (estimates.parent / "results.json").write_text(json.dumps(results))
    submission_fails(test_set, estimates, capsys,
                     f"cannot read --dev_results {estimates.parent / 'results.json'}: NaN is not a valid JSON number")


# ================================================================== synthesis (s5_synthesize)
def render_fails(corpus: Path, tmp_path: Path, capsys, mutate, *needles) -> Path:
    """Render valid_0000 after ``mutate(metadata dict)``; it must fail and write nothing."""
    src = corpus / "dev_set" / "metadata" / "valid" / "valid_0000.json"
    meta = json.loads(src.read_text())
    mutate(meta)
    bad = tmp_path / "meta" / "valid_0000.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps(meta))
    (tmp_path / "meta" / "valid.json").write_text(json.dumps([{"metadata_path": "valid_0000.json"}]))
    out = tmp_path / "out"
    expect_error(s5_synthesize.main, ["render", "--metadata_list", str(tmp_path / "meta" / "valid.json"),
                                      "--corpus_root", str(corpus), "--out_dir", str(out)],
                 capsys, *[n.format(meta=bad) for n in needles])
    assert listing(out) is None
    return bad


@covers("metadata_missing_key")
def test_metadata_missing_key(corpus, tmp_path, capsys):
    render_fails(corpus, tmp_path, capsys, lambda m: m.pop("fg_events"),
                 "scene metadata {meta} is malformed (missing 'fg_events')")


@covers("metadata_event_missing_key")
def test_metadata_event_missing_key(corpus, tmp_path, capsys):
    render_fails(corpus, tmp_path, capsys, lambda m: m["fg_events"][0].pop("label"),
                 "scene metadata {meta}:", "lacks keys ['label']")


@covers("metadata_unknown_label")
def test_metadata_unknown_label(corpus, tmp_path, capsys):
    render_fails(corpus, tmp_path, capsys, lambda m: m["fg_events"][0].update(label="Dog"),
                 "scene metadata {meta}: foreground label(s) ['Dog']", "VacuumCleaner")


@covers("metadata_negative_onset")
def test_metadata_negative_onset(corpus, tmp_path, capsys):
    render_fails(corpus, tmp_path, capsys, lambda m: m["fg_events"][0].update(event_time=-0.5),
                 "scene metadata {meta}: fg_events[0].event_time = -0.5 is outside [0, ")


@covers("metadata_snr_string")
def test_metadata_snr_string(corpus, tmp_path, capsys):
    render_fails(corpus, tmp_path, capsys, lambda m: m["fg_events"][0].update(snr="12"),
                 "scene metadata {meta}: fg_events[0].snr = '12' is not a number")


@covers("metadata_missing_source")
def test_metadata_missing_source(corpus, tmp_path, capsys):
    def mutate(meta):
        meta["fg_events"][0]["source_file"] = "Speech/gone.wav"
    render_fails(corpus, tmp_path, capsys, mutate, "audio file not found:", "Speech/gone.wav",
                 "(while rendering {meta})")


@covers("too_many_oracle_targets")
def test_too_many_oracle_targets(test_set, tmp_path, capsys, copy_of):
    oracle = copy_of(test_set.oracle_target)
    wav = np.zeros(SR * 2, dtype=np.float32)
    for slot, label in enumerate(["Speech", "Cough", "Pour", "Typing"]):
        sf.write(oracle / f"test_0000_{slot}_{label}.wav", wav, SR)
    for stale in oracle.glob("test_0000_*"):
        if stale.stem.split("_")[-1] not in ("Speech", "Cough", "Pour", "Typing"):
            stale.unlink()
    out = tmp_path / "data"
    expect_error(s5_synthesize.main, ["datadir", "--soundscape_dir", str(test_set.soundscape),
                                      "--oracle_target_dir", str(oracle), "--out_dir", str(out)],
                 capsys, "oracle targets of test_0000", "at most 3 allowed")
    assert listing(out) is None


# ================================================================== corpus layout (s5_verify_layout)
@pytest.fixture
def dev_copy(corpus, clone_dev):
    """dev_copy(*folders) -> the corpus's dev_set with ``folders`` copied (safe to break)."""
    return lambda *mutable: clone_dev(corpus / "dev_set", *mutable)


def layout_fails(dev: Path, capsys, problem: str) -> None:
    """The checker must report exactly one problem, ``problem``."""
    expect_error(s5_verify_layout.main, ["--dev_set", str(dev), "--require_external", "false",
                                         "--progress", "false"],
                 capsys, "corpus layout check failed", "1 problem(s):", problem)


@covers("sofa_2_receivers")
def test_sofa_2_receivers(dev_copy, capsys):
    dev = dev_copy("room_ir")
    bad = dev / "room_ir" / "train" / "two.sofa"
    write_sofa(bad, np.zeros((4, 2, 64)), SR, np.eye(4, 3) + 1.0)
    layout_fails(dev, capsys, f"room_ir {bad}: 2 receivers, expected 4")


@covers("empty_class_folder")
def test_empty_class_folder(dev_copy, capsys):
    dev = dev_copy("sound_event")
    speech = dev / "sound_event" / "train" / "Speech"
    for wav in speech.rglob("*.wav"):
        wav.unlink()
    layout_fails(dev, capsys, f"sound_event: empty class folder {speech} (no .wav files)")


@covers("noise_too_short")
def test_noise_too_short(dev_copy, capsys):
    dev = dev_copy("noise")
    short = dev / "noise" / "train" / "short.wav"
    write_pcm16(short, np.zeros((4, SR // 2)))
    layout_fails(dev, capsys, f"noise {short}: 0.500 s long, shorter than the required 1 s")


@covers("event_wrong_rate")
def test_event_wrong_rate(dev_copy, capsys):
    dev = dev_copy("sound_event")
    bad = dev / "sound_event" / "train" / "Speech" / "Speech_train_src0" / "slow.wav"
    sf.write(bad, np.zeros(16000), 16000)
    layout_fails(dev, capsys, f"sound_event {bad}: sample rate 16000 Hz, expected 32000 Hz")


@covers("event_truncated")
def test_event_truncated(dev_copy, capsys):
    dev = dev_copy("sound_event")
    bad = sorted((dev / "sound_event" / "train" / "Cough").rglob("*.wav"))[0]
    truncate(bad)
    layout_fails(dev, capsys, f"sound_event {bad}: truncated")


# ================================================================== training (s5_tag_train)
@covers("config_unknown_key")
def test_config_unknown_key(tag_config, valid_dir, corpus, tmp_path, capsys):
    config = yaml.safe_load(tag_config.read_text())
    config["foo_bar"] = 3
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    exp = tmp_path / "exp"
    expect_error(s5_tag_train.main, train_args(bad, exp, valid_dir, corpus), capsys,
                 f"config {bad}: unrecognized arguments: foo_bar (from {bad})")
    assert listing(exp) is None


def config_fails(tag_config, valid_dir, corpus, tmp_path, capsys, text: str, *needles) -> None:
    """s5_tag_train with the config file ``text`` must stop with ``needles`` and write nothing."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    exp = tmp_path / "exp"
    expect_error(s5_tag_train.main, train_args(bad, exp, valid_dir, corpus), capsys,
                 *[n.format(yaml=bad) for n in needles])
    assert listing(exp) is None


@covers("config_not_yaml")
def test_config_not_yaml(tag_config, valid_dir, corpus, tmp_path, capsys):
    config_fails(tag_config, valid_dir, corpus, tmp_path, capsys, tag_config.read_text() + "\nfoo: [1, 2\n",
                 "config {yaml} is not valid YAML")


@covers("config_not_mapping")
def test_config_not_mapping(tag_config, valid_dir, corpus, tmp_path, capsys):
    config_fails(tag_config, valid_dir, corpus, tmp_path, capsys, "- batch_size\n- 4\n",
                 "config {yaml}: the top level is list, expected a mapping")


@covers("config_wrong_value_type")
def test_config_wrong_value_type(tag_config, valid_dir, corpus, tmp_path, capsys):
    config = yaml.safe_load(tag_config.read_text())
    config["batch_size"] = "four"
    config_fails(tag_config, valid_dir, corpus, tmp_path, capsys, yaml.safe_dump(config),
                 "config {yaml}: batch_size = 'four' is not an integer")


@covers("train_data_conf_nan")
def test_train_data_conf_nan(tag_config, valid_dir, corpus, tmp_path, capsys):
    config = yaml.safe_load(tag_config.read_text())
    config["train_data_conf"]["dupse_rate"] = float("nan")
    config_fails(tag_config, valid_dir, corpus, tmp_path, capsys, yaml.safe_dump(config),
                 "config {yaml}: train_data_conf.dupse_rate = nan is not a finite number")


@covers("datadir_labels_unknown")
def test_datadir_labels_unknown(tag_config, valid_dir, corpus, tmp_path, capsys):
    data = Path(shutil.copytree(valid_dir, tmp_path / "valid", ignore=shutil.ignore_patterns("soundscape",
                                                                                           "oracle_target")))
    rows = (data / "labels").read_text().splitlines()
    uid, first, *rest = rows[0].split()
    rows[0] = " ".join([uid, "Dog", *rest])
    (data / "labels").write_text("\n".join(rows) + "\n")
    exp = tmp_path / "exp"
    expect_error(s5_tag_train.main, train_args(tag_config, exp, data, corpus), capsys,
                 f"{data / 'labels'}: {uid} has the unknown label 'Dog'", "re-create the data dir")
    assert listing(exp) is None


@covers("missing_valid_data_dir")
def test_missing_valid_data_dir(tag_config, corpus, tmp_path, capsys):
    exp = tmp_path / "exp"
    expect_error(s5_tag_train.main, train_args(tag_config, exp, tmp_path / "nowhere", corpus), capsys,
                 f"{tmp_path / 'nowhere' / 'wav.scp'} not found", "run stage 3")
    assert listing(exp) is None


# ================================================================== recipe (run.sh)
@covers("run_sh_stage_10")
def test_run_sh_stage_10(tmp_path):
    recipe = recipe_copy(tmp_path)
    before = listing(recipe)
    res = run_sh(recipe, "--stage", "10", timeout=60)
    assert res.returncode != 0
    assert "Error: stages are 1..9, got --stage 10" in res.stdout + res.stderr
    assert listing(recipe) == before
