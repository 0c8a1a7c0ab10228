"""The Python API (``espnet2_ext.s5.api.S5Separate``): the same outputs as ``s5_inference``,
numpy/torch and single/batch inputs, resampling, ``from_pretrained`` on an archive, its unpacked
folder, a decode folder and an (offline) Hub id, bad inputs, and the docs' example as written.

Models are fabricated espnet2 model files (tests/recipe/s5_fake_models.py) on a tiny M2D; the
tagger's slots are forced to known labels with a silence slot before a class.
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipe"))
from s5_fake_models import TINY_M2D, write_espnet_model_file  # noqa: E402

from espnet2_ext.bin import s5_inference, s5_pack  # noqa: E402
from espnet2_ext.errors import S5InputError  # noqa: E402
from espnet2_ext.fileio import read_wav, write_wav  # noqa: E402
from espnet2_ext.s5.api import Event, S5Separate  # noqa: E402
from espnet2_ext.s5.official import N_CHANNELS, SAMPLE_RATE  # noqa: E402
from espnet2_ext.s5.tagger import fabricate_m2d_weight_file  # noqa: E402
from espnet2_ext.tasks.s5_sep import S5SeparationTask  # noqa: E402
from espnet2_ext.tasks.s5_tag import S5TaggingTask  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MINI_CONF = REPO / "egs2" / "dcase26t4" / "s5" / "conf" / "mini"
DOCS = REPO / "docs" / "python_api.md"
SLOTS = ["Typing", "silence", "Speech"]          # -> events Typing, Speech (silence moved last, left out)
N_SAMPLES = SAMPLE_RATE                          # 1 s
SCAPES = ("sc_a", "sc_b", "sc_c")
#: the archive stage 9 of ./run.sh --mini true writes (tagger 4c, separator resunetk, valid.loss.best.pth)
MINI_ARCHIVE = "exp/packed/4c_resunetk_valid.loss.best.zip"


def mixture(seed: int, n: int = N_SAMPLES) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SAMPLE_RATE
    return (0.05 * rng.standard_normal((N_CHANNELS, n)) + 0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    """A recipe-like folder: checkpoint/ (M2D), exp/ (two model files), data/test (soundscapes),
    the stage-9 archive of the mini run's name, and the decode folder of the same models."""
    root = tmp_path_factory.mktemp("recipe")
    cwd = os.getcwd()
    os.chdir(root)          # relative paths, as in the recipe: checkpoint/..., exp/...
    try:
        weights = fabricate_m2d_weight_file(Path("checkpoint"), **TINY_M2D)
        tagger = write_espnet_model_file(S5TaggingTask, MINI_CONF / "tag_blocks_4c.yaml", Path("exp/tag_blocks_4c"),
                                         labels=SLOTS, tagger_conf={"weight_file": str(weights)})
        separator = write_espnet_model_file(S5SeparationTask, MINI_CONF / "sep_resunetk.yaml",
                                            Path("exp/sep_resunetk"))
        scapes = root / "corpus" / "soundscape"
        for i, name in enumerate(SCAPES):
            write_wav(scapes / f"{name}.wav", mixture(i), SAMPLE_RATE)
        (root / "data" / "test").mkdir(parents=True)
        (root / "data" / "test" / "soundscape_dir").write_text(f"{scapes}\n")
        archive = s5_pack.pack_system(tagger, separator, Path(MINI_ARCHIVE))
        decoded = root / "exp" / "decode_4c_resunetk_valid.loss.best" / "test"
        s5_inference.main(["--soundscape_dir", str(scapes), "--output_dir", str(decoded), "--device", "cpu",
                           "--tagger_ckpt", str(tagger), "--separator_ckpt", str(separator)])
        model = S5Separate(tagger, separator, device="cpu")
    finally:
        os.chdir(cwd)
    return SimpleNamespace(root=root, weights=root / weights, tagger=root / tagger, separator=root / separator,
                           scapes=scapes, archive=archive, decoded=decoded, model=model)


@pytest.fixture(scope="module")
def model(recipe):
    """The recipe's models, built in the API (in the recipe folder: the config's M2D path is relative)."""
    return recipe.model


def batch_of_scapes(recipe) -> np.ndarray:
    return np.stack([read_wav(recipe.scapes / f"{n}.wav", SAMPLE_RATE, N_CHANNELS)[0] for n in SCAPES])


def assert_same_events(a, b, atol: float = 1e-6) -> None:
    assert [e.label for e in a] == [e.label for e in b]
    for x, y in zip(a, b):
        assert x.probability == pytest.approx(y.probability, abs=atol)
        np.testing.assert_allclose(np.asarray(x.waveform), np.asarray(y.waveform), atol=atol)


def test_api_gives_what_s5_inference_wrote(recipe, model):
    estimates = json.loads((recipe.decoded / "estimates.json").read_text())
    events = model(batch_of_scapes(recipe), batch_size=2)     # the CLI's --batch_size 2 default
    assert len(events) == len(SCAPES)
    for name, evs in zip(SCAPES, events):
        assert [e.label for e in evs] == ["Typing", "Speech"] == [r["label"] for r in estimates[name]]
        for e, r in zip(evs, estimates[name]):
            assert isinstance(e, Event) and e.waveform.dtype == np.float32 and e.waveform.shape == (N_SAMPLES,)
            assert e.probability == pytest.approx(r["probability"], abs=1e-6)
            written = sf.read(str(recipe.decoded / r["filename"]), dtype="float32")[0]
            np.testing.assert_allclose(e.waveform, written, atol=1e-6)
            assert np.abs(written).max() > 0


def test_numpy_torch_single_and_batch_agree(recipe, model):
    batch = batch_of_scapes(recipe)
    from_numpy = model(batch)
    from_torch = model(torch.from_numpy(batch))
    assert all(isinstance(e.waveform, torch.Tensor) for evs in from_torch for e in evs)
    for a, b in zip(from_numpy, from_torch):
        assert_same_events(a, b, atol=0)
    alone = model(batch[0])                                                # [4, T] alone vs in the batch
    assert isinstance(alone, list) and isinstance(alone[0], Event)
    assert_same_events(alone, from_numpy[0])


@pytest.mark.parametrize("rate", [16000, 48000])
def test_other_sample_rates_are_resampled_both_ways(model, rate):
    import soxr

    x32 = mixture(7)
    x = soxr.resample(x32.T, SAMPLE_RATE, rate).T.astype(np.float32)       # the caller's recording
    events = model(x, sample_rate=rate)
    assert [e.label for e in events] == ["Typing", "Speech"]
    assert all(e.waveform.shape == (x.shape[-1],) and e.waveform.dtype == np.float32 for e in events)
    t_events = model(torch.from_numpy(x), sample_rate=rate)
    assert all(e.waveform.shape == (x.shape[-1],) for e in t_events)


def test_long_form_tracks_cover_the_recording_at_the_callers_rate(model):
    import soxr

    x = soxr.resample(mixture(3, 2 * SAMPLE_RATE).T, SAMPLE_RATE, 48000).T.astype(np.float32)     # 2 s, 48 kHz
    tracks = model(x, sample_rate=48000, long_form=True, window_s=1.0, hop_s=0.5)
    assert tracks and {t.label for t in tracks} <= {"Typing", "Speech"}
    for t in tracks:
        assert t.waveform.shape == (x.shape[-1],) and t.waveform.dtype == np.float32
        assert 0 <= t.onset <= t.offset <= 2.0 + 1e-6 and 0 < t.probability <= 1
    batch = model(torch.from_numpy(np.stack([x, x])), sample_rate=48000, long_form=True, window_s=1.0, hop_s=0.5)
    assert len(batch) == 2 and all(isinstance(t.waveform, torch.Tensor) for t in batch[0])
    short = model(mixture(4), long_form=True)                   # <= window_s: the one-clip decode as it is
    assert_same_events(sorted(short, key=lambda t: t.label), sorted(model(mixture(4)), key=lambda e: e.label), atol=0)


def test_long_form_cli_writes_what_the_api_gives(recipe, model, tmp_path, monkeypatch):
    monkeypatch.chdir(recipe.root)
    out = tmp_path / "long"
    s5_inference.main(["--soundscape_dir", str(recipe.scapes), "--output_dir", str(out), "--device", "cpu",
                       "--tagger_ckpt", str(recipe.tagger), "--separator_ckpt", str(recipe.separator),
                       "--long_form", "true", "--window_s", "0.5", "--hop_s", "0.25"])
    estimates = json.loads((out / "estimates.json").read_text())
    table = (out / "events.tsv").read_text().splitlines()
    assert table[0].split("\t") == ["filename", "onset", "offset", "event_label", "probability"]
    assert len(table) - 1 == sum(len(v) for v in estimates.values())
    for name in SCAPES:
        tracks = model(read_wav(recipe.scapes / f"{name}.wav", SAMPLE_RATE, N_CHANNELS)[0], long_form=True,
                       window_s=0.5, hop_s=0.25, batch_size=2)
        assert [(r["label"], r["onset"], r["offset"]) for r in estimates[name]] == \
            [(t.label, t.onset, t.offset) for t in tracks]
        for r, t in zip(estimates[name], tracks):
            assert r["probability"] == pytest.approx(t.probability, abs=1e-6)
            np.testing.assert_allclose(sf.read(str(out / r["filename"]), dtype="float32")[0], t.waveform, atol=1e-6)
    with pytest.raises(SystemExit):          # another window: another identity, no silent mix of settings
        s5_inference.main(["--soundscape_dir", str(recipe.scapes), "--output_dir", str(out), "--device", "cpu",
                           "--tagger_ckpt", str(recipe.tagger), "--separator_ckpt", str(recipe.separator),
                           "--long_form", "true", "--window_s", "0.5", "--hop_s", "0.5"])


def test_from_pretrained_archive_unpacked_folder_and_cache(recipe, model, tmp_path, monkeypatch):
    monkeypatch.chdir(recipe.root)                  # the M2D reference is relative to the recipe folder
    x = batch_of_scapes(recipe)
    packed = S5Separate.from_pretrained(MINI_ARCHIVE, device="cpu", cache_dir=tmp_path / "cache")
    for a, b in zip(packed(x), model(x)):
        assert_same_events(a, b, atol=0)
    (unpacked,) = (tmp_path / "cache").iterdir()
    assert (unpacked / "meta.yaml").is_file()
    stamp = (unpacked / "meta.yaml").stat().st_mtime_ns
    S5Separate.from_pretrained(MINI_ARCHIVE, device="cpu", cache_dir=tmp_path / "cache")    # reused
    assert (unpacked / "meta.yaml").stat().st_mtime_ns == stamp
    for a, b in zip(S5Separate.from_pretrained(unpacked, device="cpu")(x), model(x)):
        assert_same_events(a, b, atol=0)

    monkeypatch.chdir(tmp_path)                     # elsewhere: the M2D file must be given
    with pytest.raises(S5InputError, match="needs the M2D weight file .* m2d_weight_file="):
        S5Separate.from_pretrained(recipe.archive, device="cpu", cache_dir=tmp_path / "cache")
    elsewhere = S5Separate.from_pretrained(recipe.archive, device="cpu", cache_dir=tmp_path / "cache",
                                           m2d_weight_file=recipe.weights)
    assert_same_events(elsewhere(x[0]), model(x[0]), atol=0)
    other = fabricate_m2d_weight_file(tmp_path / "other", **TINY_M2D, seed=1)
    with pytest.raises(S5InputError, match="not the M2D weight file this system was trained on"):
        S5Separate.from_pretrained(recipe.archive, cache_dir=tmp_path / "cache", m2d_weight_file=other)


def test_from_pretrained_decode_folder(recipe, model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                     # recorded relative paths resolve from the decode folder
    x = batch_of_scapes(recipe)
    for source in (recipe.decoded, recipe.decoded.parent):          # exp/decode_*/test or exp/decode_*
        for a, b in zip(S5Separate.from_pretrained(source, device="cpu")(x), model(x)):
            assert_same_events(a, b, atol=0)
    with pytest.raises(S5InputError, match="not a decode folder"):
        S5Separate.from_pretrained(recipe.scapes)


def test_from_pretrained_hub_offline_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(S5InputError, match="could not reach the Hugging Face Hub repository someone/s5_system.*"
                                           "pass a local archive instead") as e:
        S5Separate.from_pretrained("someone/s5_system", cache_dir=tmp_path / "cache")
    assert "\n" not in str(e.value)
    with pytest.raises(S5InputError, match="no such file or folder"):
        S5Separate.from_pretrained("exp/packed/missing.zip")
    (tmp_path / "exp").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(S5InputError, match="exp/decode_typo: no such file or folder"):     # a local path, not a Hub id
        S5Separate.from_pretrained("exp/decode_typo")


@pytest.mark.parametrize("bad,needle", [
    (np.zeros((2, N_SAMPLES), np.float32), "2 channels where 4"),
    (np.zeros((N_SAMPLES, 4), np.float32), "channels last\\? pass mixture.T"),
    (np.zeros(N_SAMPLES, np.float32), "give \\[4, T\\] .* or \\[B, 4, T\\]"),
    (np.zeros((1, 1, 4, N_SAMPLES), np.float32), "shape \\(1, 1, 4, 32000\\)"),
    (np.full((4, N_SAMPLES), np.nan, np.float32), "NaN or infinite"),
    (np.zeros((4, 100), np.float32), "fewer than the 513"),
    ([[0.0] * 4], "give a numpy array or a torch tensor"),
])
def test_bad_input_is_one_clear_error(model, bad, needle):
    with pytest.raises(S5InputError, match=needle):
        model(bad)


def test_bad_arguments_are_clear_errors(recipe, model, tmp_path):
    with pytest.raises(S5InputError, match="sample_rate=0"):
        model(mixture(0), sample_rate=0)
    with pytest.raises(S5InputError, match="separator_model='.*nothing.pth': file not found"):
        S5Separate(recipe.tagger, tmp_path / "nothing.pth")
    with pytest.raises(S5InputError, match="tagger_type='2c'"):
        S5Separate(recipe.tagger, recipe.separator, tagger_type="2c", m2d_weight_file=recipe.weights)
    with pytest.raises(S5InputError, match="hop_s must be > 0 and <= window_s"):
        model(mixture(0), long_form=True, window_s=0.5, hop_s=1.0)
    with pytest.raises(S5InputError, match="precision='fp16': give one of fp32, bf16"):
        S5Separate(recipe.tagger, recipe.separator, precision="fp16", m2d_weight_file=recipe.weights)
    if not torch.cuda.is_available():
        with pytest.raises(S5InputError, match="device='cuda' requested but CUDA is not available"):
            S5Separate(recipe.tagger, recipe.separator, device="cuda", m2d_weight_file=recipe.weights)


#: the opt-in bf16 mode's tolerance against fp32 (docs/python_api.md states it): same labels,
#: probabilities within 0.01, waveforms within 5 % relative error (|bf16 - fp32| / |fp32|)
BF16_PROBABILITY, BF16_RELATIVE = 0.01, 0.05


def test_bf16_precision_is_within_its_stated_tolerance_of_fp32(recipe, model, tmp_path, monkeypatch, capsys):
    """API and CLI: ``precision="bf16"`` / ``--precision bf16`` give fp32's labels, and probabilities
    and waveforms within the stated tolerance; the decode folder records the precision."""
    low = S5Separate(recipe.tagger, recipe.separator, device="cpu", precision="bf16", m2d_weight_file=recipe.weights)
    assert low.precision == "bf16" and model.precision == "fp32"
    batch = batch_of_scapes(recipe)
    for ref, got in zip(model(batch), low(batch)):
        assert [e.label for e in got] == [e.label for e in ref]
        for x, y in zip(got, ref):
            assert x.waveform.dtype == np.float32
            assert x.probability == pytest.approx(y.probability, abs=BF16_PROBABILITY)
            error = np.linalg.norm(x.waveform - y.waveform) / np.linalg.norm(y.waveform)
            assert 0 < error < BF16_RELATIVE          # > 0: bf16 really ran
    monkeypatch.chdir(recipe.root)      # as the fixture decoded: the tagger config's M2D path is relative
    args = ["--soundscape_dir", str(recipe.scapes), "--device", "cpu", "--tagger_ckpt", str(recipe.tagger),
            "--separator_ckpt", str(recipe.separator)]
    with pytest.raises(SystemExit) as stop:      # the fp32 folder is not resumed in bf16
        s5_inference.main([*args, "--output_dir", str(recipe.decoded), "--precision", "bf16"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("ERROR:") == 1 and "precision: (absent) -> 'bf16'" in err, err
    out = tmp_path / "bf16"
    s5_inference.main([*args, "--output_dir", str(out), "--precision", "bf16"])
    assert json.loads((out / "identity.json").read_text())["identity"]["precision"] == "bf16"
    estimates = json.loads((out / "estimates.json").read_text())
    assert [[r["label"] for r in estimates[n]] for n in SCAPES] == [["Typing", "Speech"]] * len(SCAPES)


def docs_example(path: Path) -> str:
    """The Python block after the ``<!-- example: tests/s5/test_api.py -->`` marker of ``path``."""
    match = re.search(r"<!-- example: tests/s5/test_api.py -->\s*```python\n(.*?)```", path.read_text(), re.S)
    assert match, f"{path} has no marked example"
    return match.group(1)


@pytest.mark.parametrize("page", ["docs/python_api.md", "README.md"])
def test_the_documented_example_runs_as_written(recipe, page, monkeypatch, capsys):
    """Run from the recipe folder after ./run.sh --mini true --stage 9 (here: its fabricated copy)."""
    if page == "README.md" and "<!-- example: tests/s5/test_api.py -->" not in (REPO / page).read_text():
        pytest.skip("README.md does not carry the example (yet)")
    monkeypatch.chdir(recipe.root)
    code = docs_example(REPO / page)
    assert MINI_ARCHIVE in code and len(code.strip().splitlines()) <= 12
    exec(compile(code, page, "exec"), {"__name__": "__example__"})
    printed = capsys.readouterr().out.split()
    assert "Typing" in printed and "Speech" in printed
